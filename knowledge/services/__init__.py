"""The knowledge app's rules: knowledge bases (``bases``), documents (``documents``), indexing
(``indexing``) and retrieval (``retrieval``)."""
