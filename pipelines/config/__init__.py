"""User-editable configuration (YAML), validated on load."""
