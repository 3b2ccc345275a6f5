"""The DICOM standard's tables (data dictionary, VRs, transfer syntaxes, UIDs) as TSV files."""
