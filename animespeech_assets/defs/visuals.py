import base64


def png_markdown(png: bytes, alt: str) -> str:
    """A PNG embedded in Markdown metadata, shown inline in the Dagster UI."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
