"""Checks of uploaded documents (photos, scans, PDFs) and of zips of photos, against a `DocumentSpec`."""
