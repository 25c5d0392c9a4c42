"""Headless LibreOffice Calc with the relhealth extension: install it into a profile, recalculate and save books.

Run with a Python that has LibreOffice's ``uno`` module (Debian: ``/usr/bin/python3`` with python3-uno)::

    /usr/bin/python3 addin/libreoffice/headless.py --profile /tmp/lo-profile --oxt dist/relhealth.oxt \\
        workbook_template.xlsx out/template-calc.xlsx [IN.xlsx OUT.xlsx ...]

soffice starts with the given user profile (created fresh if missing, with "recalculate on load: always" for xlsx
and ods) and installs the extension through the extension manager (works as root, where ``unopkg add`` refuses
per-user installs); a Calc add-in installed this way is live only from the next start, so one more soffice then
loads each IN hidden and read-only, recalculates every formula (``calculateAll``) and stores OUT as xlsx.

Stdlib + uno only, so it runs outside the project's venv. Prints one JSON line per step; exits 1 with a message
on failure; never leaves soffice running (``--deadline`` kills it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import uno
import unohelper
from com.sun.star.connection import NoConnectException
from com.sun.star.task import XInteractionHandler
from com.sun.star.ucb import XCommandEnvironment, XProgressHandler

XLSX_FILTER = "Calc MS Excel 2007 XML"
RECALC_ALWAYS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse">\
<value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse">\
<value>0</value></prop></item>
</oor:items>
"""


class HeadlessError(RuntimeError):
    pass


def _props(**kw):
    out = []
    for k, v in kw.items():
        p = uno.createUnoStruct("com.sun.star.beans.PropertyValue")
        p.Name, p.Value = k, v
        out.append(p)
    return tuple(out)


class _Approve(unohelper.Base, XInteractionHandler):
    """Answers every question the extension manager asks with "approve" (no dialog in a headless run)."""

    def handle(self, request):
        for c in request.getContinuations():
            if c.queryInterface(uno.getTypeByName("com.sun.star.task.XInteractionApprove")):
                c.select()
                return


class _Silent(unohelper.Base, XProgressHandler):
    def push(self, status):
        pass

    def update(self, status):
        pass

    def pop(self):
        pass


class _CommandEnv(unohelper.Base, XCommandEnvironment):
    def getInteractionHandler(self):
        return _Approve()

    def getProgressHandler(self):
        return _Silent()


def find_soffice() -> str:
    for c in (os.environ.get("SOFFICE", ""), shutil.which("soffice") or "", "/usr/lib/libreoffice/program/soffice",
              "/opt/libreoffice/program/soffice"):
        if c and os.access(c, os.X_OK):
            return c
    raise HeadlessError("soffice not found (install LibreOffice: bash .ci/install-libreoffice.sh)")


def soffice_env() -> dict:
    """The environment for soffice. Its embedded Python finds its standard library from the first ``python3`` on
    PATH: a pyenv or venv Python there (as when this runs under pytest from pyenv) makes it load another
    Python's library and crash. So this interpreter's folder (LibreOffice's Python) goes first, and
    PYTHONHOME / PYTHONPATH are dropped (RELHEALTH_PYTHONPATH is the add-in's own, and is kept)."""
    env = dict(os.environ)
    for name in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "VIRTUAL_ENV"):
        env.pop(name, None)
    if sys.executable:
        env["PATH"] = os.path.dirname(os.path.realpath(sys.executable)) + os.pathsep + env.get("PATH", "")
    return env


def prepare_profile(profile: Path) -> None:
    xcu = profile / "user" / "registrymodifications.xcu"
    if not xcu.exists():
        xcu.parent.mkdir(parents=True, exist_ok=True)
        xcu.write_text(RECALC_ALWAYS, encoding="utf-8")


_running: set = set()  # soffice processes started here, killed by the deadline watchdog


def _kill_all(deadline: float) -> None:
    print(f"headless: not done after {deadline:.0f} s: killing soffice", file=sys.stderr, flush=True)
    for proc in list(_running):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os._exit(1)


class Calc:
    """One headless soffice, driven over a pipe."""

    def __init__(self, profile: Path, timeout: float = 60.0):
        self.profile = Path(profile).resolve()
        self.timeout = timeout
        self.pipe = f"relhealth-{uuid.uuid4().hex[:12]}"
        self.proc = None
        self.ctx = None
        self.desktop = None

    def __enter__(self):
        prepare_profile(self.profile)
        cmd = [find_soffice(), f"-env:UserInstallation={self.profile.as_uri()}", "--headless", "--invisible",
               "--nologo", "--norestore", "--nodefault", "--nolockcheck",
               f"--accept=pipe,name={self.pipe};urp;StarOffice.ComponentContext"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True, env=soffice_env())
        _running.add(self.proc)
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self.ctx = resolver.resolve(f"uno:pipe,name={self.pipe};urp;StarOffice.ComponentContext")
                break
            except NoConnectException:
                if self.proc.poll() is not None:
                    raise HeadlessError(f"soffice exited with {self.proc.returncode} before accepting a connection")
                if time.monotonic() > deadline:
                    self.close()
                    raise HeadlessError(f"soffice did not accept a connection within {self.timeout:.0f} s")
                time.sleep(0.2)
        self.desktop = self.ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", self.ctx)
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.desktop is not None:
            try:
                self.desktop.terminate()
            except Exception:
                pass  # the bridge drops when soffice exits
            self.desktop = None
        if self.proc is not None:
            # Wait for the whole process group (oosplash and soffice.bin): a soffice.bin still holding the
            # profile would take over the next start's command line and then quit under it.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                self.proc.poll()
                try:
                    os.killpg(self.proc.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()
            _running.discard(self.proc)
            self.proc = None

    def install_extension(self, oxt: Path) -> str:
        """Install (or replace) an .oxt in this profile; returns its identifier."""
        manager = self.ctx.getValueByName("/singletons/com.sun.star.deployment.ExtensionManager")
        package = manager.addExtension(Path(oxt).resolve().as_uri(), (), "user", manager.createAbortChannel(),
                                       _CommandEnv())
        if package is None:
            raise HeadlessError(f"the extension manager did not install {oxt}")
        ident = package.getIdentifier()
        return ident.Value if ident.IsPresent else package.getName()

    def recalc(self, src: Path, dest: Path) -> dict:
        """Load ``src``, recalculate every formula, store as xlsx to ``dest``."""
        start = time.monotonic()
        doc = self.desktop.loadComponentFromURL(Path(src).resolve().as_uri(), "_blank", 0,
                                                _props(Hidden=True, ReadOnly=True, MacroExecutionMode=0))
        if doc is None:
            raise HeadlessError(f"LibreOffice could not open {src}")
        try:
            doc.calculateAll()
            Path(dest).parent.mkdir(parents=True, exist_ok=True)
            doc.storeToURL(Path(dest).resolve().as_uri(), _props(FilterName=XLSX_FILTER, Overwrite=True))
        finally:
            doc.close(True)
        return {"book": str(src), "out": str(dest), "seconds": round(time.monotonic() - start, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", required=True, help="LibreOffice user profile folder (created if missing)")
    parser.add_argument("--oxt", help="extension to install into the profile first")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for soffice to start")
    parser.add_argument("--deadline", type=float, default=900.0,
                        help="seconds for the whole run; then soffice is killed and the run fails (900)")
    parser.add_argument("books", nargs="*", help="pairs: IN.xlsx OUT.xlsx ...")
    args = parser.parse_args(argv)
    if len(args.books) % 2:
        parser.error("books come in pairs: IN OUT")
    watchdog = threading.Timer(args.deadline, _kill_all, args=(args.deadline,))
    watchdog.daemon = True
    watchdog.start()
    try:
        if args.oxt:
            # A freshly added Calc add-in is only picked up by the next soffice: install, then restart.
            with Calc(Path(args.profile), timeout=args.timeout) as calc:
                start = time.monotonic()
                ident = calc.install_extension(Path(args.oxt))
            print(json.dumps({"installed": ident, "seconds": round(time.monotonic() - start, 2)}), flush=True)
        if args.books:
            with Calc(Path(args.profile), timeout=args.timeout) as calc:
                for src, dest in zip(args.books[::2], args.books[1::2]):
                    print(json.dumps(calc.recalc(Path(src), Path(dest))), flush=True)
    except HeadlessError as exc:
        print(f"headless: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a UNO exception: say what it was, in one line
        print(f"headless: {type(exc).__name__}: {getattr(exc, 'Message', '') or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
