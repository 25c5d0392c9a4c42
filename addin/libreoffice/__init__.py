"""LibreOffice Calc extension: build (python3 -m addin.libreoffice.build) and a headless Calc driver."""
