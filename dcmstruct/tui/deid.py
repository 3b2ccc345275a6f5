"""Which values the privacy mask hides: PS3.15 Annex E, Basic Application Level
Confidentiality Profile.

The tags are the attributes of PS3.15 Table E.1-1 whose Basic Profile action is X, Z, D or U
and that name, date, place or describe the patient, the staff or the visit: names, IDs,
dates and times, addresses, telephone numbers, institution, station, device serial numbers,
free-text descriptions and comments, and the sequences that hold such things (their whole
content is hidden). Instance, series, study and frame of reference UIDs stay visible: they
are what one follows through a broken file, and the viewer shows them, it does not send them.
Private elements (odd groups) are hidden too, as the Basic Profile removes them; their
Private Creator elements stay, as they name a vendor, not a person.

Masking hides value bytes only: tags, VRs and lengths stay visible, as they are the structure
being debugged. Bytes that form no element (unparsed, trailing) are hidden whole, and so is a
branch nested past the index's depth limit: either may hold any value. So is every value
inside an item of a masked sequence.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dcmstruct.arrays import distinct, member
from dcmstruct.index import ElementIndex
from dcmstruct.model import UNDEFINED, Kind, vr_code
from dcmstruct.ranges import RangeSet

# (tag, keyword) of PS3.15 Table E.1-1 (Basic Profile), those that identify; see above.
IDENTIFYING: tuple[tuple[int, str], ...] = (
    (0x00080020, "StudyDate"),
    (0x00080021, "SeriesDate"),
    (0x00080022, "AcquisitionDate"),
    (0x00080023, "ContentDate"),
    (0x00080024, "OverlayDate"),
    (0x00080025, "CurveDate"),
    (0x0008002A, "AcquisitionDateTime"),
    (0x00080030, "StudyTime"),
    (0x00080031, "SeriesTime"),
    (0x00080032, "AcquisitionTime"),
    (0x00080033, "ContentTime"),
    (0x00080034, "OverlayTime"),
    (0x00080035, "CurveTime"),
    (0x00080050, "AccessionNumber"),
    (0x00080080, "InstitutionName"),
    (0x00080081, "InstitutionAddress"),
    (0x00080082, "InstitutionCodeSequence"),
    (0x00080090, "ReferringPhysicianName"),
    (0x00080092, "ReferringPhysicianAddress"),
    (0x00080094, "ReferringPhysicianTelephoneNumbers"),
    (0x00080096, "ReferringPhysicianIdentificationSequence"),
    (0x0008009C, "ConsultingPhysicianName"),
    (0x0008009D, "ConsultingPhysicianIdentificationSequence"),
    (0x00080201, "TimezoneOffsetFromUTC"),
    (0x00081010, "StationName"),
    (0x00081030, "StudyDescription"),
    (0x0008103E, "SeriesDescription"),
    (0x00081040, "InstitutionalDepartmentName"),
    (0x00081048, "PhysiciansOfRecord"),
    (0x00081049, "PhysiciansOfRecordIdentificationSequence"),
    (0x00081050, "PerformingPhysicianName"),
    (0x00081052, "PerformingPhysicianIdentificationSequence"),
    (0x00081060, "NameOfPhysiciansReadingStudy"),
    (0x00081062, "PhysiciansReadingStudyIdentificationSequence"),
    (0x00081070, "OperatorsName"),
    (0x00081072, "OperatorIdentificationSequence"),
    (0x00081080, "AdmittingDiagnosesDescription"),
    (0x00081084, "AdmittingDiagnosesCodeSequence"),
    (0x00081110, "ReferencedStudySequence"),
    (0x00081120, "ReferencedPatientSequence"),
    (0x00082111, "DerivationDescription"),
    (0x00084000, "IdentifyingComments"),
    (0x00100010, "PatientName"),
    (0x00100020, "PatientID"),
    (0x00100021, "IssuerOfPatientID"),
    (0x00100030, "PatientBirthDate"),
    (0x00100032, "PatientBirthTime"),
    (0x00100040, "PatientSex"),
    (0x00100050, "PatientInsurancePlanCodeSequence"),
    (0x00100101, "PatientPrimaryLanguageCodeSequence"),
    (0x00100102, "PatientPrimaryLanguageModifierCodeSequence"),
    (0x00101000, "OtherPatientIDs"),
    (0x00101001, "OtherPatientNames"),
    (0x00101002, "OtherPatientIDsSequence"),
    (0x00101005, "PatientBirthName"),
    (0x00101010, "PatientAge"),
    (0x00101020, "PatientSize"),
    (0x00101030, "PatientWeight"),
    (0x00101040, "PatientAddress"),
    (0x00101050, "InsurancePlanIdentification"),
    (0x00101060, "PatientMotherBirthName"),
    (0x00101080, "MilitaryRank"),
    (0x00101081, "BranchOfService"),
    (0x00101090, "MedicalRecordLocator"),
    (0x00101100, "ReferencedPatientPhotoSequence"),
    (0x00102000, "MedicalAlerts"),
    (0x00102110, "Allergies"),
    (0x00102150, "CountryOfResidence"),
    (0x00102152, "RegionOfResidence"),
    (0x00102154, "PatientTelephoneNumbers"),
    (0x00102160, "EthnicGroup"),
    (0x00102180, "Occupation"),
    (0x001021A0, "SmokingStatus"),
    (0x001021B0, "AdditionalPatientHistory"),
    (0x001021C0, "PregnancyStatus"),
    (0x001021D0, "LastMenstrualDate"),
    (0x001021F0, "PatientReligiousPreference"),
    (0x00102203, "PatientSexNeutered"),
    (0x00102297, "ResponsiblePerson"),
    (0x00102299, "ResponsibleOrganization"),
    (0x00104000, "PatientComments"),
    (0x00181000, "DeviceSerialNumber"),
    (0x00181004, "PlateID"),
    (0x00181005, "GeneratorID"),
    (0x00181007, "CassetteID"),
    (0x00181008, "GantryID"),
    (0x00181030, "ProtocolName"),
    (0x0018700A, "DetectorID"),
    (0x00189424, "AcquisitionProtocolDescription"),
    (0x0018A003, "ContributionDescription"),
    (0x00200010, "StudyID"),
    (0x00204000, "ImageComments"),
    (0x00321032, "RequestingPhysician"),
    (0x00321033, "RequestingService"),
    (0x00321060, "RequestedProcedureDescription"),
    (0x00321070, "RequestedContrastAgent"),
    (0x00324000, "StudyComments"),
    (0x00380010, "AdmissionID"),
    (0x00380060, "ServiceEpisodeID"),
    (0x00380300, "CurrentPatientLocation"),
    (0x00380400, "PatientInstitutionResidence"),
    (0x00380500, "PatientState"),
    (0x00384000, "VisitComments"),
    (0x00400001, "ScheduledStationAETitle"),
    (0x00400002, "ScheduledProcedureStepStartDate"),
    (0x00400003, "ScheduledProcedureStepStartTime"),
    (0x00400004, "ScheduledProcedureStepEndDate"),
    (0x00400005, "ScheduledProcedureStepEndTime"),
    (0x00400006, "ScheduledPerformingPhysicianName"),
    (0x00400007, "ScheduledProcedureStepDescription"),
    (0x00400009, "ScheduledProcedureStepID"),
    (0x00400010, "ScheduledStationName"),
    (0x00400011, "ScheduledProcedureStepLocation"),
    (0x00400241, "PerformedStationAETitle"),
    (0x00400242, "PerformedStationName"),
    (0x00400243, "PerformedLocation"),
    (0x00400244, "PerformedProcedureStepStartDate"),
    (0x00400245, "PerformedProcedureStepStartTime"),
    (0x00400253, "PerformedProcedureStepID"),
    (0x00400254, "PerformedProcedureStepDescription"),
    (0x00400275, "RequestAttributesSequence"),
    (0x00400280, "CommentsOnThePerformedProcedureStep"),
    (0x00401001, "RequestedProcedureID"),
    (0x00401010, "NamesOfIntendedRecipientsOfResults"),
    (0x00401101, "PersonIdentificationCodeSequence"),
    (0x00401102, "PersonAddress"),
    (0x00401103, "PersonTelephoneNumbers"),
    (0x00401400, "RequestedProcedureComments"),
    (0x00402016, "PlacerOrderNumberImagingServiceRequest"),
    (0x00402017, "FillerOrderNumberImagingServiceRequest"),
    (0x00402400, "ImagingServiceRequestComments"),
    (0x0040A030, "VerificationDateTime"),
    (0x0040A073, "VerifyingObserverSequence"),
    (0x0040A075, "VerifyingObserverName"),
    (0x0040A078, "AuthorObserverSequence"),
    (0x0040A07A, "ParticipantSequence"),
    (0x0040A088, "VerifyingObserverIdentificationCodeSequence"),
    (0x0040A123, "PersonName"),
    (0x0040A730, "ContentSequence"),
    (0x00700084, "ContentCreatorName"),
    (0x00700086, "ContentCreatorIdentificationCodeSequence"),
    (0x04000561, "OriginalAttributesSequence"),
    (0x4008010C, "InterpretationAuthor"),
    (0x40080114, "PhysicianApprovingInterpretation"),
)
IDENTIFYING_TAGS = frozenset(tag for tag, _ in IDENTIFYING)

_SQ = vr_code("SQ")


def _is_private_creator(tag: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """PS3.5 7.8.1: (gggg,0010)-(gggg,00FF) in an odd group reserve a private block."""
    element = tag & 0xFFFF
    return (element >= 0x0010) & (element <= 0x00FF)


def masked_nodes(index: ElementIndex) -> npt.NDArray[np.bool_]:
    """Per node: are its value bytes hidden? An identifying or private element, or anything
    inside one (an item of a masked sequence and all it holds)."""
    c = index.columns
    n = len(c)
    is_element = c.kind == Kind.ELEMENT
    tag = c.tag.astype(np.int64)
    group = (tag >> 16) & 0xFFFF
    # Odd groups below 0009 are illegal (PS3.5 7.8.1) but may hold anything: hidden as well.
    private = is_element & (group & 1 == 1) & ~_is_private_creator(tag)
    direct = is_element & member(tag, np.fromiter(IDENTIFYING_TAGS, np.int64))
    # Bytes that form no element may be the remains of any value, a patient's name included.
    unparsed = c.kind == Kind.TRAILING
    hidden: npt.NDArray[np.bool_] = np.asarray(private | direct | unparsed, dtype=np.bool_)
    if n == 0 or not hidden.any():
        return hidden
    # Inherit down the tree: each vectorised pass pushes the mask one tree level further
    # (items and their elements share a data-set depth, so depth cannot order the passes);
    # it stops when nothing changes, after at most the tree's height in passes.
    parent = c.parent.astype(np.int64)
    has_parent = np.flatnonzero(parent >= 0)
    while True:
        inherited = hidden[parent[has_parent]] & ~hidden[has_parent]
        if not inherited.any():
            return hidden
        hidden[has_parent[inherited]] = True


def masked_ranges(index: ElementIndex, hidden: npt.NDArray[np.bool_]) -> dict[int, RangeSet]:
    """Per stream: the byte ranges to hide. A sequence's own value is its items' headers and
    elements: only the values inside it are hidden (by the nodes inside it), so the items
    stay readable as structure."""
    c = index.columns
    trailing = hidden & (c.kind == Kind.TRAILING)
    has_value = trailing | (
        hidden
        & (c.value_offset >= 0)
        & (c.length != UNDEFINED)
        & (c.vr != _SQ)
        & ((c.kind == Kind.ELEMENT) | (c.kind == Kind.FRAGMENT))
    )
    # Past the nesting limit nothing is recorded: the bytes of such a branch can hold any
    # value, so the branch's whole value is hidden.
    deep = np.zeros(len(c), dtype=np.bool_)
    for fault in index.faults:
        if fault.code == "NESTING_TOO_DEEP" and 0 <= fault.node < len(c):
            deep[fault.node] = True
    has_value |= deep & (c.value_offset >= 0)
    # An element with items under it (an SQ read as UN, say) shows them as nodes.
    out: dict[int, RangeSet] = {}
    rows = np.flatnonzero(has_value)
    for stream in distinct(c.stream[rows].astype(np.int64)).tolist():
        sel = rows[c.stream[rows] == stream]
        # Unparsed bytes have no value field: all of them are hidden.
        starts = np.where(trailing[sel], c.offset[sel], c.value_offset[sel])
        out[int(stream)] = RangeSet.from_arrays(starts, c.end[sel])
    return out
