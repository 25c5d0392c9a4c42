"""xlwings Server's custom scripts: the relhealth refresh button, re-exported by name.

xlwings Server imports the ``custom_scripts`` package from its project directory (``addin/server``); a sheet button
or the task pane then runs ``refresh_book`` on the open workbook, the same routine as ``relhealth refresh``.
"""

from addin.scripts import refresh_book

__all__ = ["refresh_book"]
