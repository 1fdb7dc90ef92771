"""The semantic layer: metric definitions (metrics/*.yml) compiled to SQL over the marts."""
