"""The night report: thumbnails, plots and one self-contained HTML page."""
