"""The environmental review report: built from a workspace as a list of blocks (headings,
paragraphs, numbered tables and figures), rendered to HTML, PDF (WeasyPrint) and DOCX
(python-docx) from the same blocks, so the three never disagree."""
