"""Structural validation: rules over the element index, findings with exact offsets."""

from dcmstruct.validate.engine import validate_index, validate_path
from dcmstruct.validate.finding import Finding, Severity
from dcmstruct.validate.registry import REGISTRY, Rule

__all__ = ["REGISTRY", "Finding", "Rule", "Severity", "validate_index", "validate_path"]
