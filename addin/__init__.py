"""The Excel side: workbook load/save, sample writer, refresh, command line, xlwings scripts and servers."""
