"""
Harness for nsqadmin's web UI in a real headless browser: Debian's
C{chromium} driven by Selenium through the system C{chromedriver}, against
a real cluster (one nsqlookupd, two nsqds, nsqadmin) running in the test's
own reactor on 127.0.0.1 ports 0.

Selenium blocks, so every browser call runs in a reactor thread
(L{deferToThread}) while the reactor goes on serving the daemons; a test
awaits L{Browser}'s methods, which run L{Tab}'s blocking ones over there.

Screenshots are test artefacts under the trial temp directory
(C{screenshots/}); with C{TXNSQ_UPDATE_SCREENSHOTS=1} the ones named for
the documentation are also written to C{docs/_static/nsqadmin/}.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import quote

import attrs
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SkipTest, TestCase

from tests._services import startLookupd, startNSQD
from tests.golden import httpRequest
from tests.integration._cluster import until
from txnsq.client.consumer import Consumer
from txnsq.client.producer import Producer
from txnsq.nsqadmin.config import AdminConfig
from txnsq.nsqadmin.service import NSQAdminService

try:
    from selenium import webdriver
    from selenium.common.exceptions import (
        NoAlertPresentException,
        NoSuchElementException,
        StaleElementReferenceException,
        TimeoutException,
        WebDriverException,
    )
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support.ui import WebDriverWait

    _SELENIUM_MISSING = ""
except ImportError as e:  # pragma: no cover - CI installs it
    _SELENIUM_MISSING = f"selenium is not importable ({e}); pip install -e '.[test]'"

T = TypeVar("T")

#: How long any one browser condition may take on a loaded machine.
TIMEOUT = 30.0

#: The window every screenshot is taken in.
WINDOW = (1280, 800)

#: Where C{TXNSQ_UPDATE_SCREENSHOTS=1} writes the documentation's pictures.
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "_static" / "nsqadmin"


def browserMissing() -> str:
    """
    Why the browser tests cannot run here, or C{""} when they can.
    """
    if _SELENIUM_MISSING:
        return _SELENIUM_MISSING
    for program, package in (
        ("chromium", "chromium"),
        ("chromedriver", "chromium-driver"),
    ):
        if shutil.which(program) is None:
            return f"{program} not found: apt-get install {package} (Debian)"
    return ""


def testid(name: str, **data: str) -> str:
    """
    A CSS selector for C{data-testid=name}, narrowed by C{data-*}
    attributes: C{testid("topic-row", topic="t")}.
    """
    selector = f'[data-testid="{name}"]'
    for key, value in data.items():
        selector += f'[data-{key}="{value}"]'
    return selector


def segment(name: str) -> str:
    """
    A topic, channel or node name as a path segment, as the UI quotes it.
    """
    return quote(name, safe="")


def _descendants(pid: int) -> set[tuple[int, str]]:
    """
    The live processes descended from C{pid}, from /proc: each one's PID
    and start time (so a PID reused later is never mistaken for it).
    """
    parents: dict[int, list[tuple[int, str]]] = {}
    if not os.path.isdir("/proc"):
        # Not Linux: rely on quit() alone.
        return set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            process = _process(int(entry))
            if process is not None:
                parents.setdefault(process[0], []).append((int(entry), process[1]))
    found: set[tuple[int, str]] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child[0])
    return found


def _process(pid: int) -> tuple[int, str] | None:
    """
    A live process's parent PID and start time, or L{None}.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # After the command name (in parentheses, maybe with spaces): state,
    # parent, ..., and the start time as the 20th field.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[1]), fields[19]


class Tab:
    """
    One headless chromium window, blocking: call its methods from a thread
    (see L{Browser}).

    @ivar base: the URL paths are relative to (C{http://127.0.0.1:port}).
    """

    def __init__(self, javascript: bool, screenshots: Path, prefix: str) -> None:
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "chromium"
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--disable-extensions",
            "--disable-background-networking",
            "--no-first-run",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
        ):
            options.add_argument(argument)
        if not javascript:
            options.add_experimental_option(
                "prefs", {"profile.managed_default_content_settings.javascript": 2}
            )
        # Leave confirm() dialogs open for the test to accept or dismiss.
        options.unhandled_prompt_behavior = "ignore"
        service = Service(shutil.which("chromedriver") or "chromedriver")
        self.driver = webdriver.Chrome(service=service, options=options)
        # chromedriver and everything it started (chromium and its
        # helpers), so that none outlives the test even if quit() fails.
        self._started: set[tuple[int, str]] = set()
        driverPID: int | None = getattr(service.process, "pid", None)
        if driverPID is not None:
            driver = _process(driverPID)
            if driver is not None:
                self._started = {(driverPID, driver[1]), *_descendants(driverPID)}
        self.driver.set_page_load_timeout(TIMEOUT)
        # --window-size counts the (invisible) browser frame too: grow the
        # window until the page itself is WINDOW, as screenshots show it.
        inner = self.driver.execute_script(
            "return [window.innerWidth, window.innerHeight];"
        )
        if list(inner) != list(WINDOW):
            self.driver.set_window_size(
                2 * WINDOW[0] - inner[0], 2 * WINDOW[1] - inner[1]
            )
        self.base = ""
        self._screenshots = screenshots
        self._prefix = prefix
        self._shots = 0

    def quit(self) -> None:
        """
        Close the browser; kill what is left of the processes it started.
        """
        for pid, _ in list(self._started):
            self._started |= _descendants(pid)
        with contextlib.suppress(Exception):
            self.driver.quit()
        for pid, started in self._started:
            process = _process(pid)
            # Only if it is still the very process chromedriver started.
            if process is not None and process[1] == started:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    # Reading.

    def wait(self, condition: Callable[[], T | bool | None], what: str) -> T:
        """
        Poll C{condition} until it returns something true (elements that
        vanish under an htmx refresh meanwhile are retried); fail after
        L{TIMEOUT} with a screenshot and the page's text.
        """
        try:
            result: Any = WebDriverWait(
                self.driver,
                TIMEOUT,
                poll_frequency=0.1,
                ignored_exceptions=(
                    NoSuchElementException,
                    StaleElementReferenceException,
                ),
            ).until(lambda _: condition())
            return result  # type: ignore[no-any-return]
        except TimeoutException:
            name = self.screenshot("timeout")
            try:
                text = self.driver.find_element(By.TAG_NAME, "body").text
            except WebDriverException:
                text = "<unreadable>"
            raise AssertionError(
                f"{what}: not so after {TIMEOUT}s at {self.driver.current_url} "
                f"(screenshot {name}); page text:\n{text[:3000]}"
            ) from None

    def find(self, selector: str) -> WebElement:
        """
        The first element matching C{selector}, once there is one.
        """
        element: WebElement = self.wait(
            lambda: self.driver.find_element(By.CSS_SELECTOR, selector), selector
        )
        return element

    def all(self, selector: str) -> list[WebElement]:
        """
        Every element matching C{selector} now (no waiting).
        """
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def count(self, selector: str) -> int:
        """
        How many elements match C{selector} now.
        """
        return len(self.all(selector))

    def text(self, selector: str) -> str:
        """
        The visible text of the first element matching C{selector}.
        """
        return self._stable(lambda: self.find(selector).text)

    def attr(self, selector: str, name: str) -> str:
        """
        An attribute of the first element matching C{selector} (C{""} if
        it has none).
        """
        return self._stable(lambda: self.find(selector).get_attribute(name) or "")

    def texts(self, selector: str) -> list[str]:
        """
        The texts of every element matching C{selector} now.
        """
        return self._stable(lambda: [e.text for e in self.all(selector)])

    def attrs(self, selector: str, name: str) -> list[str]:
        """
        An attribute of every element matching C{selector} now.
        """
        return self._stable(
            lambda: [e.get_attribute(name) or "" for e in self.all(selector)]
        )

    def _stable(self, read: Callable[[], T]) -> T:
        """
        C{read()}, again if an htmx refresh replaced the elements midway.
        """
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                return read()
            except StaleElementReferenceException:
                if time.monotonic() > deadline:
                    raise

    def page(self) -> str:
        """
        The current page's kind (C{data-page} of C{data-testid="page"}).
        """
        return self.attr(testid("page"), "data-page")

    def path(self) -> str:
        """
        The current URL without L{base}.
        """
        url: str = self.driver.current_url
        return url[len(self.base) :] if url.startswith(self.base) else url

    # Navigating.

    def mark(self) -> str:
        """
        Tag the current document, so a new one can be told from it (see
        L{sameDocument}).
        """
        token = f"m{time.monotonic_ns()}"
        self.driver.execute_script(f"window.txnsqMark = {json.dumps(token)};")
        return token

    def sameDocument(self, token: str) -> bool:
        """
        Whether the document is still the one L{mark} gave C{token} (it
        was not reloaded or left).
        """
        return not self._replaced(token)

    def _replaced(self, token: str) -> bool:
        try:
            mark = self.driver.execute_script("return window.txnsqMark || null;")
        except WebDriverException:
            return False
        return bool(mark != token)

    def open(self, path: str, page: str | None = None) -> str:
        """
        Load L{base} + C{path} (or C{path} itself if it is a whole URL)
        and wait for its C{page} element; the page's kind, which must be
        C{page} if given.
        """
        self.driver.get(path if "://" in path else self.base + path)
        kind = self.page()
        if page is not None and kind != page:
            raise AssertionError(f"{path}: a {kind!r} page, expected {page!r}")
        return kind

    def raw(self, path: str) -> str:
        """
        Load L{base} + C{path} (not a UI page: /ping, the JSON API) and
        return the text the browser shows.
        """
        self.driver.get(self.base + path)
        return self.find("body").text

    def follow(self, selector: str, page: str | None = None) -> str:
        """
        Click the link C{selector} and wait for the page it leads to; that
        page's kind, which must be C{page} if given.
        """
        token = self.mark()
        self.click(selector)
        self.wait(
            lambda: self._replaced(token), f"a new page after clicking {selector}"
        )
        kind = self.page()
        if page is not None and kind != page:
            raise AssertionError(f"{selector} led to a {kind!r} page, not {page!r}")
        return kind

    def click(self, selector: str) -> None:
        """
        Click the first element matching C{selector} (found again if an
        htmx refresh replaced it before the click).
        """
        self._stable(lambda: self.find(selector).click())

    def _alert(self) -> Any:
        def present() -> Any:
            try:
                alert = self.driver.switch_to.alert
                alert.text  # noqa: B018 - raises when there is none yet
                return alert
            except NoAlertPresentException:
                return None

        return self.wait(present, "a confirm() dialog")

    def act(self, selector: str, confirm: str = "") -> tuple[str, str]:
        """
        Click an action button, accept the browser's confirm() dialog
        (whose text must contain C{confirm}), and wait for the page the
        action redirects to.

        @return: that page's flash: its C{data-level} and text.
        """
        token = self.mark()
        self.click(selector)
        alert = self._alert()
        question = alert.text
        if confirm not in question:
            alert.dismiss()
            raise AssertionError(f"confirm() asked {question!r}, expected {confirm!r}")
        alert.accept()
        self.wait(lambda: self._replaced(token), f"the page after {selector}")
        return self.flash()

    def dismiss(self, selector: str) -> str:
        """
        Click an action button and dismiss its confirm() dialog; the
        dialog's text.  The page must stay (no action was sent).
        """
        token = self.mark()
        self.click(selector)
        alert = self._alert()
        question: str = alert.text
        alert.dismiss()
        if self._replaced(token):
            raise AssertionError(f"dismissing {question!r} left the page")
        return question

    def flash(self) -> tuple[str, str]:
        """
        The flash message on the current page: level and text.
        """
        return (self.attr(testid("flash"), "data-level"), self.text(testid("flash")))

    def submit(self, selector: str, page: str | None = None) -> str:
        """
        Click a button that submits a form (no confirm()), wait for the
        next page; its kind, which must be C{page} if given.
        """
        return self.follow(selector, page)

    def type(self, selector: str, text: str) -> None:
        """
        Replace the text of the input C{selector} with C{text}.
        """
        element = self.find(selector)
        element.clear()
        element.send_keys(text)

    def localURLs(self) -> list[str]:
        """
        Every URL the page holds for nsqadmin itself, as written in its
        attributes: links, forms, scripts, stylesheets and htmx requests
        (URLs with a scheme, such as the nsqds' /metrics, left out).
        """
        urls: list[str] = self.driver.execute_script(
            """
            const found = [];
            const attributes = ["href", "action", "src", "hx-get", "hx-post"];
            for (const element of document.querySelectorAll("*")) {
                for (const name of attributes) {
                    const value = element.getAttribute(name);
                    if (value !== null) found.push(value);
                }
            }
            return found;
            """
        )
        # With a scheme: another server's (/metrics) or none (data:).
        return [url for url in urls if not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", url)]

    # Artefacts.

    def screenshot(self, name: str, doc: str = "") -> str:
        """
        Save the window as C{screenshots/<test>-<n>-<name>.png}; also as
        C{docs/_static/nsqadmin/<doc>.png} when C{doc} is given and
        C{TXNSQ_UPDATE_SCREENSHOTS=1}.  The file's path.
        """
        self._shots += 1
        self._screenshots.mkdir(parents=True, exist_ok=True)
        path = self._screenshots / f"{self._prefix}-{self._shots:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        if doc and os.environ.get("TXNSQ_UPDATE_SCREENSHOTS") == "1":
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SCREENSHOTS / f"{doc}.png")
        return str(path)

    def lastScreenshot(self) -> None:
        """
        Save the window as the test left it, if the browser still can.
        """
        with contextlib.suppress(WebDriverException):
            self.screenshot("last")

    def setHeaders(self, headers: dict[str, str]) -> None:
        """
        Send C{headers} with every later request (as a proxy that
        authenticates users would).
        """
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})


class Browser:
    """
    A L{Tab} for asynchronous tests: each method runs the tab's
    blocking one in a thread and keeps the reactor free meanwhile.
    """

    def __init__(self, tab: Tab) -> None:
        self.tab = tab

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        """
        C{call(*args)} in a thread.
        """
        result: T = await deferToThread(call, *args)
        return result

    async def open(self, path: str, page: str | None = None) -> str:
        return await self.run(self.tab.open, path, page)

    async def raw(self, path: str) -> str:
        return await self.run(self.tab.raw, path)

    async def follow(self, selector: str, page: str | None = None) -> str:
        return await self.run(self.tab.follow, selector, page)

    async def click(self, selector: str) -> None:
        await self.run(self.tab.click, selector)

    async def act(self, selector: str, confirm: str = "") -> tuple[str, str]:
        return await self.run(self.tab.act, selector, confirm)

    async def dismiss(self, selector: str) -> str:
        return await self.run(self.tab.dismiss, selector)

    async def flash(self) -> tuple[str, str]:
        return await self.run(self.tab.flash)

    async def text(self, selector: str) -> str:
        return await self.run(self.tab.text, selector)

    async def attr(self, selector: str, name: str) -> str:
        return await self.run(self.tab.attr, selector, name)

    async def texts(self, selector: str) -> list[str]:
        return await self.run(self.tab.texts, selector)

    async def attrs(self, selector: str, name: str) -> list[str]:
        return await self.run(self.tab.attrs, selector, name)

    async def count(self, selector: str) -> int:
        return await self.run(self.tab.count, selector)

    async def page(self) -> str:
        return await self.run(self.tab.page)

    async def path(self) -> str:
        return await self.run(self.tab.path)

    async def wait(self, condition: Callable[[], T | bool | None], what: str) -> T:
        return await self.run(self.tab.wait, condition, what)

    async def screenshot(self, name: str, doc: str = "") -> str:
        return await self.run(self.tab.screenshot, name, doc)


async def startBrowser(
    testCase: TestCase, base: str, javascript: bool = True
) -> Browser:
    """
    A headless chromium pointed at C{base}, closed when the test ends
    (register it after the cluster, so it closes first); skips the test
    when chromium, chromedriver or selenium are missing.
    """
    missing = browserMissing()
    if missing:
        raise SkipTest(missing)
    prefix = testCase.id().rsplit(".", 2)
    name = "-".join(prefix[-2:]) + ("" if javascript else "-nojs")
    tab = await deferToThread(Tab, javascript, Path.cwd() / "screenshots", name)
    testCase.addCleanup(deferToThread, tab.quit)
    # Before quitting: how the browser was left, for a failed test's
    # artefacts (a dialog still open or a dead browser spoil only this).
    testCase.addCleanup(deferToThread, tab.lastScreenshot)
    tab.base = base
    return Browser(tab)


# The cluster.


async def _call(
    port: int, method: str, path: str, body: bytes = b""
) -> tuple[int, Any]:
    """
    One HTTP request to 127.0.0.1:C{port}; the status and decoded JSON
    (or text) body.
    """
    response = await httpRequest(
        reactor, "127.0.0.1", port, method, path, body, timeout=30.0
    )
    try:
        return response.status, json.loads(response.body)
    except ValueError:
        return response.status, response.body.decode("utf-8", "replace")


@attrs.define
class AdminCluster:
    """
    A running cluster: one nsqlookupd, nsqds registered with it, a
    producer connected to each nsqd, and nsqadmin(s) reading it.

    @ivar nsqdHTTP: each nsqd's HTTP port.
    @ivar producers: a connected producer per nsqd, in the same order.
    @ivar admin: the first nsqadmin's HTTP port.
    """

    testCase: TestCase
    lookupdTCP: int
    lookupdHTTP: int
    nsqdTCP: list[int]
    nsqdHTTP: list[int]
    producers: list[Producer]
    admin: int = 0

    @property
    def nodes(self) -> list[str]:
        """
        The nsqds as nsqadmin names them (C{host:http_port}).
        """
        return [f"127.0.0.1:{port}" for port in self.nsqdHTTP]

    async def startAdmin(self, **config: Any) -> int:
        """
        One more nsqadmin reading this cluster through its nsqlookupd
        (unless C{nsqd_http_addresses} are given); its HTTP port.
        """
        if not config.get("nsqd_http_addresses"):
            config.setdefault(
                "lookupd_http_addresses", [f"127.0.0.1:{self.lookupdHTTP}"]
            )
        admin = NSQAdminService(
            AdminConfig(http_address="127.0.0.1:0", **config), reactor
        )
        admin.startService()
        self.testCase.addCleanup(admin.stopService)
        listening = await admin.whenHTTPListening()
        port: int = listening.getHost().port  # type: ignore[attr-defined]
        return port

    async def publish(self, topic: str, count: int, node: int | None = None) -> None:
        """
        Publish C{count} messages to C{topic} on every nsqd (or on the
        one numbered C{node}).
        """
        producers = self.producers if node is None else [self.producers[node]]
        bodies = [b"message %d" % i for i in range(count)]
        await gatherResults([p.multiPublish(topic, bodies) for p in producers])

    async def consume(self, topic: str, channel: str, **options: Any) -> Consumer:
        """
        A consumer of C{topic}/C{channel} connected to every nsqd (FINing
        what it gets; C{options} are L{Consumer}'s), once every nsqd
        lists it; stopped when the test ends.
        """
        options.setdefault("maxInFlight", 10)
        consumer = Consumer(
            topic,
            channel,
            lambda message: None,
            nsqdAddresses=[f"127.0.0.1:{port}" for port in self.nsqdTCP],
            reactor=reactor,
            **options,
        )
        consumer.start()
        self.testCase.addCleanup(consumer.stop)

        async def subscribed() -> bool:
            for node in range(len(self.nsqdHTTP)):
                found = await self.channel(node, topic, channel)
                if not found or not found["clients"]:
                    return False
            return True

        await self.eventually(subscribed, f"a consumer of {topic}/{channel} everywhere")
        return consumer

    async def stats(self, node: int) -> dict[str, Any]:
        """
        An nsqd's C{/stats} as JSON.
        """
        status, body = await _call(self.nsqdHTTP[node], "GET", "/stats?format=json")
        assert status == 200, body
        stats: dict[str, Any] = body
        return stats

    async def topic(self, node: int, name: str) -> dict[str, Any] | None:
        """
        Topic C{name} in an nsqd's C{/stats}, or L{None} if it has none.
        """
        topics = (await self.stats(node))["topics"] or []
        found = [t for t in topics if t["topic_name"] == name]
        return found[0] if found else None

    async def channel(self, node: int, topic: str, name: str) -> dict[str, Any] | None:
        """
        Channel C{name} of C{topic} in an nsqd's C{/stats}, or L{None}.
        """
        found = await self.topic(node, topic)
        channels = [
            c for c in (found or {}).get("channels") or [] if c["channel_name"] == name
        ]
        return channels[0] if channels else None

    async def nsqdCall(
        self, node: int, method: str, path: str, body: bytes = b""
    ) -> tuple[int, Any]:
        """
        A request to an nsqd's HTTP API: its status and decoded body.
        """
        return await _call(self.nsqdHTTP[node], method, path, body)

    async def lookupdPost(self, path: str) -> None:
        """
        A POST to nsqlookupd's HTTP API, which must succeed.
        """
        status, body = await _call(self.lookupdHTTP, "POST", path)
        assert status == 200, body

    async def lookupd(self, path: str) -> Any:
        """
        A GET of nsqlookupd's HTTP API, decoded.
        """
        status, body = await _call(self.lookupdHTTP, "GET", path)
        return body if status == 200 else None

    async def eventually(self, check: Callable[[], Any], what: str) -> None:
        """
        Wait until the awaitable C{check()} gives something true.
        """

        async def done() -> tuple[bool, Any]:
            value = await check()
            return bool(value), value

        await until(done, what, timeout=TIMEOUT)


async def startCluster(
    testCase: TestCase,
    topics: dict[str, list[str]],
    messages: int = 10,
    consumers: Sequence[tuple[str, str]] = (),
    nsqds: int = 2,
    nsqdConfig: dict[str, Any] | None = None,
    **adminConfig: Any,
) -> AdminCluster:
    """
    nsqlookupd; C{nsqds} nsqds (with C{nsqdConfig}) registered with it, each with C{topics}
    (name -> channels) and C{messages} published to every topic there; a
    consumer per C{(topic, channel)} connected to every nsqd (FINing what
    it gets); nsqadmin with C{adminConfig} pointed at the nsqlookupd, once
    the nsqlookupd knows everything.
    """
    _, lookupdTCP, lookupdHTTP = await startLookupd(testCase)
    tcpPorts, httpPorts, producers = [], [], []
    for _ in range(nsqds):
        nsqd, tcp = await startNSQD(testCase, lookupdTCP, **(nsqdConfig or {}))
        listening = await nsqd.whenHTTPListening()
        tcpPorts.append(tcp)
        httpPorts.append(listening.getHost().port)  # type: ignore[attr-defined]
        producer = Producer([f"127.0.0.1:{tcp}"], reactor=reactor)
        producer.start()
        testCase.addCleanup(producer.stop)
        producers.append(producer)
    cluster = AdminCluster(
        testCase, lookupdTCP, lookupdHTTP, tcpPorts, httpPorts, producers
    )
    for topic, channels in topics.items():
        for port in httpPorts:
            status, body = await _call(port, "POST", f"/topic/create?topic={topic}")
            assert status == 200, body
            for channel in channels:
                status, body = await _call(
                    port, "POST", f"/channel/create?topic={topic}&channel={channel}"
                )
                assert status == 200, body
        if messages:
            await cluster.publish(topic, messages)
    for topic, channel in consumers:
        await cluster.consume(topic, channel)

    async def registered() -> bool:
        for topic, channels in topics.items():
            lookup = await cluster.lookupd(f"/lookup?topic={topic}")
            if not lookup or len(lookup["producers"]) != nsqds:
                return False
            if sorted(lookup["channels"]) != sorted(channels):
                return False
        return True

    await cluster.eventually(registered, "nsqlookupd knows every topic and channel")
    cluster.admin = await cluster.startAdmin(**adminConfig)
    return cluster


def startTraffic(
    testCase: TestCase,
    cluster: AdminCluster,
    topics: Sequence[str],
    interval: float = 0.25,
) -> LoopingCall:
    """
    Keep publishing a few messages to each of C{topics} on every nsqd,
    every C{interval} seconds until the test ends, so rates are not 0.
    """

    async def publish() -> None:
        for topic in topics:
            await cluster.publish(topic, 3)

    loop = LoopingCall(lambda: Deferred.fromCoroutine(publish()))
    done = loop.start(interval)
    # Cleanups run last-added first: stop, then wait for the last
    # publish, all before the producers stop.
    testCase.addCleanup(lambda: done)
    testCase.addCleanup(lambda: loop.stop() if loop.running else None)
    return loop


# Tests.


#: The cluster most tests use: a consumed channel, a channel that only
#: fills up, and a topic without channels (so the topic itself has depth).
TOPICS = {"orders": ["billing", "archive"], "audit": []}
CONSUMERS = [("orders", "billing")]
MESSAGES = 10


def number(text: str) -> int:
    """
    A count as the UI shows it (thousands separators allowed).
    """
    return int(text.replace(",", "").strip())


class BrowserTestCase(TestCase):
    """
    A fresh cluster and a fresh browser for each test.
    """

    timeout = 300

    def setUp(self) -> None:
        """
        Skip before starting anything where no browser can run.
        """
        missing = browserMissing()
        if missing:
            raise SkipTest(missing)

    async def start(
        self, javascript: bool = True, **adminConfig: Any
    ) -> tuple[AdminCluster, Browser]:
        """
        The usual cluster (L{TOPICS}, L{MESSAGES} per topic per nsqd, a
        consumer of orders/billing) and a browser on its nsqadmin.
        """
        cluster = await startCluster(
            self, TOPICS, MESSAGES, consumers=CONSUMERS, **adminConfig
        )
        browser = await startBrowser(
            self, f"http://127.0.0.1:{cluster.admin}", javascript
        )
        return cluster, browser

    async def paused(
        self, cluster: AdminCluster, topic: str, channel: str = ""
    ) -> list[bool]:
        """
        Whether C{topic} (or its C{channel}) is paused, on each nsqd.
        """
        states = []
        for node in range(len(cluster.nsqdHTTP)):
            found = (
                await cluster.channel(node, topic, channel)
                if channel
                else await cluster.topic(node, topic)
            )
            assert found is not None, (node, topic, channel)
            states.append(bool(found["paused"]))
        return states

    async def depths(
        self, cluster: AdminCluster, topic: str, channel: str = ""
    ) -> list[int]:
        """
        The depth of C{topic} (or its C{channel}) on each nsqd.
        """
        depths = []
        for node in range(len(cluster.nsqdHTTP)):
            found = (
                await cluster.channel(node, topic, channel)
                if channel
                else await cluster.topic(node, topic)
            )
            assert found is not None, (node, topic, channel)
            depths.append(int(found["depth"]))
        return depths
