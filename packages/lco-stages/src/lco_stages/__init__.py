"""lco_stages: pure reduction stages, master-making functions and per-OBSTYPE recipes."""
