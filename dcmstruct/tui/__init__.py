"""``dcmstruct view``: a Textual viewer of a DICOM file's bytes, structure and findings."""
