"""Registration engine (DESIGN §2, §5): programs, sessions, applications and their review chain. Built in a later issue."""
