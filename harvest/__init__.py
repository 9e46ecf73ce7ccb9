"""harvest package."""
