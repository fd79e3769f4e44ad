"""Attachment files: where their bytes live (``storage``) and what text they hold (``parser``).

The rules (who may upload, read or delete what) are in ``tasks.services.attachments``.
"""
