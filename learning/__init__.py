"""Learning engine (DESIGN §2, §7): courses, video lessons, server-side progress. Built in a later issue."""
