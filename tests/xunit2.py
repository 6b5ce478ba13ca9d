"""A structural check of JUnit XML against pytest's xunit2 schema (junit-10.xsd).

The schema ships in pytest's source repository (testing/example_scripts/junit-10.xsd), not in
its wheel; these are its rules, as checked here without an XML-schema library:

- the root is <testsuites> (children: <testsuite> only) or a <testsuite>;
- <testsuite> needs name, tests, failures and errors; its time matches SUREFIRE_TIME; its
  children are <testsuite>, <properties>, <testcase>, <system-out>, <system-err>;
- <properties> holds only <property> elements, each with name and value;
- <testcase> needs name; its children are <skipped>, <errors>, <failure>, <rerunFailure>,
  <rerunError>, <flakyFailure>, <flakyError>, <system-out>, <system-err>: no <properties>
  (what pytest writes for ``record_property``/``user_properties``, valid only in xunit1) and
  no <error> (the schema's element is <errors>; pytest writes <error> for an error in setup);
- attributes outside each element's list are not allowed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

SUREFIRE_TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]{0,3})?")
SUITE_ATTRS = {"name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp", "hostname",
               "id", "package", "file", "log", "url", "version"}  # fmt: skip
SUITE_REQUIRED = {"name", "tests", "failures", "errors"}
SUITE_CHILDREN = {"testsuite", "properties", "testcase", "system-out", "system-err"}
CASE_ATTRS = {"name", "time", "classname", "group"}
CASE_CHILDREN = {"skipped", "errors", "failure", "rerunFailure", "rerunError", "flakyFailure", "flakyError",
                 "system-out", "system-err"}  # fmt: skip
OUTCOME_ATTRS = {"type", "message"}


def xunit2_errors(path: Path) -> list[str]:
    """Every way the file breaks the xunit2 schema (empty when it is valid)."""
    root = ET.parse(path).getroot()
    errors: list[str] = []
    if root.tag == "testsuites":
        extra = set(root.attrib) - {"name", "time", "tests", "failures", "errors"}
        if extra:
            errors.append(f"testsuites: attributes not allowed: {sorted(extra)}")
        for child in root:
            if child.tag != "testsuite":
                errors.append(f"testsuites: child <{child.tag}> not allowed")
            else:
                _suite(child, errors)
    elif root.tag == "testsuite":
        _suite(root, errors)
    else:
        errors.append(f"root <{root.tag}>: expected <testsuites> or <testsuite>")
    return errors


def _suite(suite: ET.Element, errors: list[str]) -> None:
    where = f"testsuite {suite.get('name')!r}"
    if missing := SUITE_REQUIRED - set(suite.attrib):
        errors.append(f"{where}: missing attributes {sorted(missing)}")
    if extra := set(suite.attrib) - SUITE_ATTRS:
        errors.append(f"{where}: attributes not allowed: {sorted(extra)}")
    if "time" in suite.attrib and not SUREFIRE_TIME.fullmatch(suite.get("time", "")):
        errors.append(f"{where}: time {suite.get('time')!r} is not a SUREFIRE_TIME")
    for child in suite:
        if child.tag not in SUITE_CHILDREN:
            errors.append(f"{where}: child <{child.tag}> not allowed")
        elif child.tag == "testsuite":
            _suite(child, errors)
        elif child.tag == "properties":
            _properties(child, where, errors)
        elif child.tag == "testcase":
            _case(child, errors)


def _properties(properties: ET.Element, where: str, errors: list[str]) -> None:
    for prop in properties:
        if prop.tag != "property":
            errors.append(f"{where}: <properties> holds <{prop.tag}>")
        elif set(prop.attrib) != {"name", "value"}:
            errors.append(f"{where}: property {prop.get('name')!r} needs exactly name and value")


def _case(case: ET.Element, errors: list[str]) -> None:
    where = f"testcase {case.get('classname')}.{case.get('name')}"
    if "name" not in case.attrib:
        errors.append(f"{where}: missing name")
    if extra := set(case.attrib) - CASE_ATTRS:
        errors.append(f"{where}: attributes not allowed: {sorted(extra)}")
    for child in case:
        if child.tag not in CASE_CHILDREN:
            errors.append(f"{where}: child <{child.tag}> not allowed")
        elif child.tag in ("skipped", "errors", "failure") and (extra := set(child.attrib) - OUTCOME_ATTRS):
            errors.append(f"{where}: <{child.tag}> attributes not allowed: {sorted(extra)}")
