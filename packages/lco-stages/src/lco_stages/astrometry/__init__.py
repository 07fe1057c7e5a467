"""Astrometry without a service: pattern matching to a reference catalogue and a TAN-SIP fit."""

from lco_stages.astrometry.solve import WCSERR_FAILED, WCSERR_SOLVED, AstrometrySolution, solve_astrometry

__all__ = ["WCSERR_FAILED", "WCSERR_SOLVED", "AstrometrySolution", "solve_astrometry"]
