"""lco_instruments: LCO camera geometry as typed data, and the raw-frame simulator."""
