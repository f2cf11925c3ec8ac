"""`createThread`, and createPosts with `media_paths`: posts and their media in one call.

A thread, or a post with an image, is otherwise three to six calls with IDs copied by the model.
Everything that can refuse a post is checked for every post before anything is sent (arguments,
files inside X_MEDIA_DIR and their sizes, X's self-serve posting rules, a billing pause), so a
thread never stops half-way for a reason that was knowable. Media are uploaded first (uploadMedia's
own steps), then the posts are sent in order, each replying to the one before. A post is never
retried (Executor.send retries a POST only when the connection never opened): on a failure the
thread stops and says which posts were posted, with their IDs, and which were not.
"""

from __future__ import annotations

import json
import math
import mimetypes
from collections import Counter
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from xapi_mcp.calls import media
from xapi_mcp.calls.arguments import PreparedRequest, prepare
from xapi_mcp.calls.cost import Estimate, usd
from xapi_mcp.calls.results import ToolOutcome, dumps
from xapi_mcp.calls.workflow import Progress, Workflow
from xapi_mcp.errors import ArgumentError, MediaError
from xapi_mcp.tools.tooldef import ToolDef
from xapi_mcp.tools.workflows import MAX_MEDIA, MEDIA_PATHS, POST, THREAD, UPLOAD_STEPS

PLACEHOLDER = "0"  # an ID X has not returned yet, in checks and dry runs


@dataclass(frozen=True)
class _Post:
    number: int  # from 1, as messages count
    of: int
    args: dict[str, Any]  # createPosts arguments, without the media still to upload and the reply
    paths: tuple[str, ...] = ()  # files inside X_MEDIA_DIR, uploaded first
    sizes: tuple[int, ...] = ()

    def arguments(self, uploaded: list[str], reply_to: str | None) -> dict[str, Any]:
        args = dict(self.args)
        given = dict(args.get("media") or {})
        ids = [*given.get("media_ids", []), *uploaded]
        if ids:
            args["media"] = {**given, "media_ids": ids}
        if reply_to is not None:
            args["reply"] = {**(args.get("reply") or {}), "in_reply_to_tweet_id": reply_to}
        return args

    @property
    def label(self) -> str:
        return f"post {self.number} of {self.of}" if self.of > 1 else "the post"


def _checked(
    workflow: Workflow, name: str, entries: list[tuple[dict[str, Any], list[str]]], reply_to: Any
) -> list[_Post]:
    """Every post checked as X and this server would check it, before anything is sent."""
    op = workflow.tools[POST]
    posts: list[_Post] = []
    for number, (args, paths) in enumerate(entries, 1):
        where = f"post {number} of {len(entries)}: " if name == THREAD else ""
        sizes = []
        for path in paths:
            try:
                real = media.resolve_media_path(path, workflow.media_dir)
                mime = mimetypes.guess_type(real.name)[0] or "application/octet-stream"
                media.check_size(f"'{path}'", real.stat().st_size, "", mime)
            except MediaError as exc:
                raise MediaError(f"{where}{exc}") from None
            sizes.append(real.stat().st_size)
        given = (args.get("media") or {}).get("media_ids") or []
        if len(given) + len(paths) > MAX_MEDIA:
            raise ArgumentError(
                f"{name}: {where}{len(given) + len(paths)} media, but X attaches at most {MAX_MEDIA} to a post "
                "(or one video or GIF). Nothing was sent to X."
            )
        if paths and not all(step in workflow.tools for step in UPLOAD_STEPS):
            raise ArgumentError(f"{name}: this spec has no chunked media upload, so media_paths cannot be used.")
        post = _Post(number, len(entries), args, tuple(paths), tuple(sizes))
        reply = reply_to if number == 1 else PLACEHOLDER
        try:
            request = prepare(op, post.arguments([PLACEHOLDER] * len(paths), reply))
        except ArgumentError as exc:
            raise ArgumentError(f"{name}: {where}{exc}") from None
        refused = workflow.spending.refusal(op, request) if workflow.spending is not None else None
        if refused is not None:
            every = (
                " Every post is checked before the first is sent, so nothing was posted." if len(entries) > 1 else ""
            )
            raise ArgumentError(f"{name}: {where}{refused}{every}")
        posts.append(post)
    return posts


def _thread(workflow: Workflow, args: dict[str, Any]) -> list[_Post]:
    entries = []
    for number, entry in enumerate(args["posts"], 1):
        post: dict[str, Any] = {"text": entry["text"]} if isinstance(entry.get("text"), str) else {}
        if entry.get("media_ids"):
            post["media"] = {"media_ids": list(entry["media_ids"])}
        paths = list(entry.get(MEDIA_PATHS) or [])
        if not post.get("text") and not paths and "media" not in post:
            raise ArgumentError(
                f"{THREAD}: post {number} of {len(args['posts'])} has no text and no media: give it text, "
                f"{MEDIA_PATHS} or media_ids. Nothing was sent to X."
            )
        entries.append((post, paths))
    return _checked(workflow, THREAD, entries, args.get("reply_to"))


def _single(workflow: Workflow, args: dict[str, Any]) -> list[_Post]:
    rest = {key: value for key, value in args.items() if key != MEDIA_PATHS}
    return _checked(workflow, POST, [(rest, list(args.get(MEDIA_PATHS) or []))], None)


def check_thread(workflow: Workflow, args: dict[str, Any]) -> None:
    _thread(workflow, args)


def check_post(workflow: Workflow, args: dict[str, Any]) -> None:
    _single(workflow, args)


def estimate_thread(workflow: Workflow, tool: ToolDef, args: dict[str, Any]) -> tuple[Estimate, Estimate] | None:
    """The whole thread's price (every post, the URL surcharge where a text has one, every upload request)."""
    priced = _price(workflow, _thread(workflow, args), args.get("reply_to"))
    return (priced, priced) if priced is not None else None


def estimate_post(workflow: Workflow, tool: ToolDef, args: dict[str, Any]) -> tuple[Estimate, Estimate] | None:
    priced = _price(workflow, _single(workflow, args), None)
    return (priced, priced) if priced is not None else None


def _price(workflow: Workflow, posts: list[_Post], reply_to: Any) -> Estimate | None:
    op = workflow.tools[POST]
    total, resources = Decimal(0), Counter[str]()
    plain: Counter[tuple[Decimal, str]] = Counter()
    parts: list[str] = []
    for post in posts:
        reply = reply_to if post.number == 1 else PLACEHOLDER
        estimated = workflow.estimate(op, prepare(op, post.arguments([PLACEHOLDER] * len(post.paths), reply)))
        if estimated is None or not estimated.priced:
            return estimated
        total += estimated.usd
        resources.update(estimated.resources)
        if estimated.url:
            parts.append(f"{post.label} at {usd(estimated.usd)}: its text has a URL ({estimated.url})")
        else:
            plain[(estimated.usd, ", ".join(estimated.resources))] += 1
    head = [f"{n} post{'s' if n != 1 else ''} at {usd(rate)} ({category})" for (rate, category), n in plain.items()]
    sizes = [size for post in posts for size in post.sizes]
    if sizes:
        step = workflow.tools[UPLOAD_STEPS[0]]
        one = workflow.estimate(step, PreparedRequest(step.plan.method, step.plan.path))
        if one is None:
            return None
        requests = sum(2 + max(1, math.ceil(size / media.CHUNK_BYTES)) for size in sizes)
        total += one.usd * requests
        resources.update({category: count * requests for category, count in one.resources.items()})
        files = f"{len(sizes)} media file{'s' if len(sizes) != 1 else ''}"
        parts.append(f"{files} uploaded in {requests} requests at {usd(one.usd)} ({', '.join(one.resources)})")
    return Estimate(total, dict(resources), "; ".join(head + parts))


async def run_thread(workflow: Workflow, tool: ToolDef, args: dict[str, Any], progress: Progress | None) -> ToolOutcome:
    """createThread with `args` already validated against its schema (Executor.call/preflight)."""
    try:
        posts = _thread(workflow, args)
    except ArgumentError as exc:
        return ToolOutcome(str(exc), True)
    except MediaError as exc:
        return ToolOutcome(f"{THREAD}: {exc} Nothing was sent to X.", True)
    reply_to = args.get("reply_to")
    if workflow.dry_run:
        return await _dry_run(workflow, THREAD, posts, reply_to)
    refused = await _over_budget(workflow, posts, reply_to)
    if refused is not None:
        return ToolOutcome(f"{THREAD}: {refused}", True)
    steps, done = len(posts) + sum(len(post.paths) for post in posts), 0
    uploaded: dict[int, list[str]] = {}
    for post in posts:  # every file first: a file X refuses stops the thread before anything is posted
        uploaded[post.number] = []
        for path in post.paths:
            got = await _upload(workflow, path)
            if isinstance(got, ToolOutcome):
                earlier = [media_id for ids in uploaded.values() for media_id in ids]
                text = f"{THREAD}: uploading {path} for {post.label} failed, so nothing was posted. {got.text}"
                return ToolOutcome(text + _unused(earlier), True, status=got.status, uncertain=got.uncertain)
            uploaded[post.number].append(got)
            done += 1
            if progress is not None:
                await progress(done, steps, f"uploaded {path}")
    op = workflow.tools[POST]
    posted: list[dict[str, Any]] = []
    previous = reply_to
    for post in posts:
        outcome = await workflow.send(op, prepare(op, post.arguments(uploaded[post.number], previous)))
        new_id = _posted_id(outcome)
        if new_id is None:
            return _stopped(posts, posted, post, outcome, uploaded)
        posted.append(
            {
                "post": post.number,
                "id": new_id,
                **({"media_ids": uploaded[post.number]} if uploaded[post.number] else {}),
            }
        )
        previous = new_id
        done += 1
        if progress is not None:
            await progress(done, steps, f"posted {post.number} of {len(posts)}")
    first, count = posted[0]["id"], len(posts)
    note = f"Posted {count} posts in order, each replying to the one before (first {first}, last {previous})."
    return ToolOutcome(dumps({"posted": posted}), note=note)


async def run_post(workflow: Workflow, tool: ToolDef, args: dict[str, Any], progress: Progress | None) -> ToolOutcome:
    """createPosts with media_paths: upload each file, then the post with their media IDs."""
    try:
        (post,) = _single(workflow, args)
    except ArgumentError as exc:
        return ToolOutcome(str(exc), True)
    except MediaError as exc:
        return ToolOutcome(f"{POST}: {exc} Nothing was sent to X.", True)
    if workflow.dry_run:
        return await _dry_run(workflow, POST, [post], None)
    refused = await _over_budget(workflow, [post], None)
    if refused is not None:
        return ToolOutcome(f"{POST}: {refused}", True)
    ids: list[str] = []
    for number, path in enumerate(post.paths, 1):
        got = await _upload(workflow, path)
        if isinstance(got, ToolOutcome):
            text = f"{POST}: uploading {path} failed, so nothing was posted. {got.text}"
            return ToolOutcome(text + _unused(ids), True, status=got.status, uncertain=got.uncertain)
        ids.append(got)
        if progress is not None:
            await progress(number, len(post.paths) + 1, f"uploaded {path}")
    op = workflow.tools[POST]
    outcome = await workflow.send(op, prepare(op, post.arguments(ids, None)))
    uploaded = f"Uploaded {', '.join(post.paths)} as media {', '.join(ids)}."
    if outcome.is_error:
        return replace(outcome, text=f"{outcome.text} {uploaded}{_unused(ids)}")
    return replace(outcome, note=" ".join(part for part in (uploaded, outcome.note) if part))


async def _over_budget(workflow: Workflow, posts: list[_Post], reply_to: Any) -> str | None:
    """Whether every post (and upload) fits today's budget: checked before the first, even when nobody is asked."""
    priced = _price(workflow, posts, reply_to) if workflow.spending is not None else None
    if workflow.spending is None or priced is None:
        return None
    return await workflow.spending.budget_refusal(workflow.tools[POST], priced)


async def _upload(workflow: Workflow, path: str) -> str | ToolOutcome:
    """uploadMedia's own steps for one file; its media ID, or why not."""
    init = workflow.tools[UPLOAD_STEPS[0]]
    outcome = await media.run_upload(workflow, init, {"path": path}, None)
    if outcome.is_error:
        return outcome
    try:
        return str(json.loads(outcome.text)["media_id"])
    except (ValueError, KeyError, TypeError):
        return ToolOutcome(f"uploadMedia gave no media ID for {path}: {outcome.text[:200]}", True)


def _unused(ids: list[str]) -> str:
    if not ids:
        return ""
    listed = json.dumps({"media_ids": ids})
    return (
        f" Media uploaded before it stop: {', '.join(ids)} (usable for 24 h): to try again without uploading them "
        f"again, pass media={listed} (createPosts) or media_ids (createThread) instead of {MEDIA_PATHS}."
    )


def _posted_id(outcome: ToolOutcome) -> str | None:
    data = outcome.body.get("data") if isinstance(outcome.body, dict) and not outcome.is_error else None
    post_id = data.get("id") if isinstance(data, dict) else None
    return str(post_id) if isinstance(post_id, str | int) and str(post_id) else None


def _stopped(
    posts: list[_Post],
    posted: list[dict[str, Any]],
    failed: _Post,
    outcome: ToolOutcome,
    uploaded: dict[int, list[str]],
) -> ToolOutcome:
    """What was posted (IDs, in order) and what was not, after post `failed` did not go through."""
    total, number = len(posts), failed.number
    done = ", ".join(f"post {p['post']} = {p['id']}" for p in posted) or "nothing"
    later = list(range(number + 1, total + 1))
    unsure = outcome.uncertain or not outcome.is_error
    if not outcome.is_error:
        what = f"X accepted post {number} but its answer has no post ID, so the thread cannot go on: check the account"
    elif outcome.uncertain:
        what = f"post {number} may have reached X (no answer came back): check the account before sending it again"
    else:
        what = f"post {number} was not posted"
    if later:
        what += (
            f"; {'post' if len(later) == 1 else 'posts'} {_span(later)} {'was' if len(later) == 1 else 'were'} not sent"
        )
    resume = ""
    if not unsure:
        to = f' and reply_to="{posted[-1]["id"]}"' if posted else ""
        rest = "post" if number == total else "posts"
        resume = f" To finish the thread, call {THREAD} again with {rest} {_span(list(range(number, total + 1)))}{to}."
    left = {n: ids for n, ids in uploaded.items() if n >= number and ids}
    if left and not unsure:
        media_ids = "; ".join(f"post {n}: {', '.join(ids)}" for n, ids in left.items())
        resume += f" Their media are uploaded ({media_ids}; usable for 24 h): give media_ids instead of {MEDIA_PATHS}."
    text = f"{THREAD} stopped at post {number} of {total}. Posted, in order: {done}. {what}.{resume} {outcome.text}"
    report = {"posted": posted, "failed": number, "not_sent": later, "uncertain": unsure}
    return ToolOutcome(text, True, note=dumps(report), status=outcome.status, uncertain=outcome.uncertain)


def _span(numbers: list[int]) -> str:
    return str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}-{numbers[-1]}"


async def _dry_run(workflow: Workflow, name: str, posts: list[_Post], reply_to: Any) -> ToolOutcome:
    """Each post's request as it would go (IDs X would return shown as 0); nothing is sent."""
    op = workflow.tools[POST]
    shown = []
    for post in posts:
        reply = reply_to if post.number == 1 else PLACEHOLDER
        outcome = await workflow.send(op, prepare(op, post.arguments([PLACEHOLDER] * len(post.paths), reply)))
        shown.append(json.loads(outcome.text) if not outcome.is_error else outcome.text)
    files = sum(len(post.paths) for post in posts)
    upload = f"upload {files} file(s) first (uploadMedia: INIT, APPEND, FINALIZE each), then " if files else ""
    what = "these posts in order" if name == THREAD else "this post"
    ids = f"{PLACEHOLDER} stands for IDs X returns"
    note = f"X_API_DRY_RUN=1: {name} was not sent to X. It would {upload}send {what}; {ids}."
    return ToolOutcome(dumps(shown if name == THREAD else shown[0]), note=note)
