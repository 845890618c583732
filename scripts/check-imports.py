#!/usr/bin/env python3
"""Every module declares in Package.swift every module it imports (issue 15's package hygiene):
an import that compiles only because another target pulled the product in breaks when that
target changes. Reads `swift package dump-package`; exits 1 naming each target and import."""
import glob, json, os, re, subprocess, sys

# Modules of the toolchain, not of any package.
TOOLCHAIN = {"Foundation", "FoundationEssentials", "Dispatch", "Synchronization", "Testing", "XCTest", "Glibc", "Darwin", "_Concurrency"}
IMPORT = re.compile(r"^\s*(?:@testable\s+|@_implementationOnly\s+|(?:public|package|internal)\s+)?import\s+(\w+)", re.M)

package = json.loads(subprocess.run(["swift", "package", "dump-package"], check=True, capture_output=True, text=True).stdout)
problems = []
for target in package["targets"]:
    name = target["name"]
    path = target.get("path") or ("Tests/" if target["type"] == "test" else "Sources/") + name
    if not os.path.isdir(path):
        continue
    declared = {entry[0] for dependency in target["dependencies"] for entry in dependency.values()}
    imported = set()
    for source in glob.glob(path + "/**/*.swift", recursive=True):
        with open(source, encoding="utf-8") as f:
            imported.update(IMPORT.findall(f.read()))
    for module in sorted(imported - declared - TOOLCHAIN - {name}):
        problems.append(f"{name} imports {module} but does not declare it in Package.swift")
for problem in problems:
    print("FAIL: " + problem, file=sys.stderr)
if problems:
    sys.exit(1)
print("✔ every target declares every module it imports")
