"""Goals a marketer writes: the goals file, its validation and window resolution."""
