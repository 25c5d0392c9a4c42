"""xlwings Server's custom scripts: none yet (an empty package, so the server's own examples are not served)."""
