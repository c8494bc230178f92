"""Certificates engine (DESIGN §2, §7): exams, scores, registry, PDFs, public verification. Built in a later issue."""
