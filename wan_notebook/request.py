"""VideoRequest: one text-to-video request, validated against the catalog before any I/O.

Every rule comes from :mod:`wan_notebook.catalog` (PROTOCOL 2.2/2.3); every error is a
:class:`~wan_notebook.errors.ValidationError` naming the parameter, the value given and what the
model allows.

Normalisation (deliberate, because the mapping is unambiguous): a ``size`` written with ``x``,
``X`` or ``×`` and optional spaces (``"1280x720"``, ``"1280 × 720"``) is stored as the service's
spelling ``"1280*720"``. Tier names (``"720P"``) and ratios (``"16:9"``) are *not* guessed: the
error lists the matching sizes instead. Nothing else is rewritten.

A request is frozen and hashable; :attr:`VideoRequest.digest` (sha256 of the canonical JSON)
is the cache key. For a local audio file the canonical form holds the file's name and sha256,
not its path, so moving the notebook does not change the digest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from . import catalog, checks, request_media, request_new, request_wan3
from .errors import ValidationError
from .media_in import MediaInput
from .media_in.body import field_of, media_body
from .protocol_new import new_body

__all__ = ["PARAMS", "VideoRequest", "is_remote_url"]

#: Every keyword :meth:`VideoRequest.create` accepts after ``prompt``.
PARAMS = (
    "model",
    "size",
    "duration",
    "negative_prompt",
    "audio_url",
    "audio",
    "shot_type",
    "prompt_extend",
    "watermark",
    "seed",
    # issue 13: the new protocol's names (and the protocol of a model the catalog lacks)
    "resolution",
    "ratio",
    "protocol",
    # issue 14: media inputs (image-to-video, first + last frame)
    "image",
    "last_frame",
    "first_clip",
    "references",
    "video",
    "audio_setting",
)
SHOT_TYPES = ("single", "multi")
AUDIO_SUFFIXES = (".wav", ".mp3")
AUDIO_MAX_BYTES = 15 * 1024 * 1024
_REMOTE_SCHEMES = ("http://", "https://", "oss://")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*[*xX×]\s*(\d+)\s*$")
_RATIO = {"16:9": 0, "9:16": 1, "1:1": 2, "4:3": 3, "3:4": 4}


def is_remote_url(value: str) -> bool:
    """True for values the service fetches itself (http(s) and ``oss://`` temporary URLs)."""
    return value.lower().startswith(_REMOTE_SCHEMES)


def _fail(param: str, value: Any, problem: str, allowed: str) -> ValidationError:
    return checks.fail(param, value, problem, allowed)


def _check_bool(name: str, value: Any) -> None:
    checks.flag(value, name)


def _check_int(name: str, value: Any, allowed: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            allowed = f"{allowed} (write {int(value)})"
        raise checks.type_error(name, value, allowed)


def _normalise_size(model: catalog.Model, size: Any) -> str:
    allowed = "use one of " + ", ".join(model.sizes)
    if not isinstance(size, str):
        raise checks.type_error("size", size, allowed)
    m = _SIZE_RE.match(size)
    if m:
        norm = f"{int(m.group(1))}*{int(m.group(2))}"
        if norm in model.sizes:
            return norm
        tier = catalog.TIER_OF_SIZE.get(norm)
        why = (
            f"is a {tier} size, and {model.id} offers only {'/'.join(model.tiers)}"
            if tier
            else "is not a size the service offers"
        )
        raise _fail("size", size, f"is not allowed for {model.id}: it {why}", allowed)
    key = size.strip().upper()
    if key in catalog.SIZES_BY_TIER:
        if key in model.tiers:
            hint = ", ".join(catalog.SIZES_BY_TIER[key])
            problem = f"is a tier, not a size; for {key} write one of {hint}"
        else:
            problem = f"is a tier {model.id} does not offer"
        raise _fail("size", size, problem, allowed)
    if size.strip() in _RATIO:
        i = _RATIO[size.strip()]
        tiers = [catalog.SIZES_BY_TIER[t] for t in model.tiers]
        hint = ", ".join(sizes[i] for sizes in tiers if i < len(sizes))
        raise _fail("size", size, f"is an aspect ratio, not a size; for it write {hint}", allowed)
    raise _fail("size", size, f"is not allowed for {model.id} (write width*height)", allowed)


# the model's text limits: one check for every request kind (request_media holds it)
_check_text = request_media.check_text


def _local_audio(value: str) -> Path:
    raw = value
    if raw.lower().startswith("file://"):
        raw = unquote(urlsplit(raw).path)
    path = Path(raw).expanduser()
    allowed = "an http(s):// or oss:// URL, or a local .wav/.mp3 file of at most 15 MB"
    if not path.is_file():
        raise _fail("audio_url", value, "is neither a URL nor an existing local file", allowed)
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise _fail("audio_url", value, "is not a .wav or .mp3 file", allowed)
    size = path.stat().st_size
    if size > AUDIO_MAX_BYTES:
        raise _fail("audio_url", value, f"is {size / 1e6:.1f} MB, over the 15 MB limit", allowed)
    return path.resolve()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class VideoRequest:
    """A validated text-to-video request. Build it with :meth:`create`, not the constructor."""

    prompt: str
    model: str = catalog.DEFAULT_MODEL
    size: str = ""
    duration: int = 0
    negative_prompt: str | None = None
    #: An http(s)/oss URL as given, or the absolute path of a local audio file.
    audio_url: str | None = None
    audio: bool | None = None
    shot_type: str | None = None
    prompt_extend: bool = True
    watermark: bool = False
    seed: int | None = None
    #: New protocol (wan2.7, Wan3.0): ``parameters.resolution`` / ``ratio``; None on legacy.
    resolution: str | None = None
    ratio: str | None = None
    #: Only for a model the catalog does not know, when given explicitly.
    protocol: str | None = None
    _audio_sha256: str | None = field(default=None, repr=False, compare=False)
    #: Image-to-video inputs (issue 14), each keyed by its role and content sha256.
    media: tuple[MediaInput, ...] = ()
    #: wan2.7-videoedit: ``parameters.audio_setting`` (``auto`` / ``origin``).
    audio_setting: str | None = None

    @classmethod
    def create(
        cls,
        prompt: str,
        *,
        model: str = catalog.DEFAULT_MODEL,
        size: str | None = None,
        duration: int | None = None,
        negative_prompt: str | None = None,
        audio_url: str | os.PathLike[str] | None = None,
        audio: bool | None = None,
        shot_type: str | None = None,
        prompt_extend: bool = True,
        watermark: bool = False,
        seed: int | None = None,
        resolution: str | None = None,
        ratio: str | None = None,
        protocol: str | None = None,
        image: Any = None,
        last_frame: Any = None,
        first_clip: Any = None,
        references: Any = None,
        video: Any = None,
        audio_setting: str | None = None,
    ) -> VideoRequest:
        """Validate every parameter against the catalog and fill in the model's defaults.

        New-protocol models (wan2.7, Wan3.0) take ``resolution`` x ``ratio``; legacy models
        take ``size``. Either spelling maps to the other when exact (:mod:`.request_new`). A
        model id the catalog does not know is sent as given, checked only for type, with one
        warning; ``protocol`` ("legacy"/"new") overrides the guess from its id.

        ``audio_url`` may be a URL or a local ``.wav``/``.mp3`` path (also ``file://``); the
        client uploads local files (PROTOCOL 11.6). ``audio`` is sent as ``parameters.audio``
        and only allowed on models that make sound (undocumented for t2v, PROTOCOL 2.2).
        ``shot_type`` only takes effect with ``prompt_extend=True``; a warning says so.
        """
        if not isinstance(model, str):
            raise checks.type_error("model", model, _models_allowed())
        if not model.strip():
            raise _fail("model", model, "is empty", _models_allowed())
        try:
            info = catalog.lookup(model, protocol)  # type: ignore[arg-type]
        except ValueError as exc:
            raise _fail("protocol", protocol, str(exc), "'legacy' or 'new'") from None
        given = (image, last_frame, first_clip, references, video, audio_setting)
        wan3 = request_wan3.wan3_media(
            info, image=image, last_frame=last_frame, references=references,
            first_clip=first_clip, video=video, audio_setting=audio_setting,
        )  # fmt: skip
        if wan3 is not None:  # Wan3.0: media optional, the text-to-video path (PROTOCOL 15)
            _check_text("prompt", prompt, info.prompt_max, info.id, required=not wan3)
            return dataclasses.replace(_create_new(
                info, prompt, model=model, size=size, duration=duration,
                negative_prompt=negative_prompt, audio_url=audio_url, audio=audio,
                shot_type=shot_type, prompt_extend=prompt_extend, watermark=watermark,
                seed=seed, resolution=resolution, ratio=ratio, protocol=protocol,
            ), media=wan3)  # fmt: skip
        if catalog.input_rules(info) or any(m is not None for m in given):
            return cls(**request_media.media_fields(
                info, prompt, shared=VideoRequest.create, normalise_size=_normalise_size,
                model=model, references=references, video=video, audio_setting=audio_setting,
                size=size, duration=duration,
                negative_prompt=negative_prompt, audio_url=audio_url, audio=audio,
                shot_type=shot_type, prompt_extend=prompt_extend, watermark=watermark,
                seed=seed, resolution=resolution, ratio=ratio, image=image,
                last_frame=last_frame, first_clip=first_clip,
            ))  # fmt: skip
        _check_text("prompt", prompt, info.prompt_max, info.id, required=True)
        if info.protocol == "new":
            return _create_new(
                info, prompt, model=model, size=size, duration=duration,
                negative_prompt=negative_prompt, audio_url=audio_url, audio=audio,
                shot_type=shot_type, prompt_extend=prompt_extend, watermark=watermark,
                seed=seed, resolution=resolution, ratio=ratio, protocol=protocol,
            )  # fmt: skip
        if resolution is not None or ratio is not None:
            mapped = request_new.legacy_size(info, resolution, ratio)
            if size is not None and _normalise_size(info, size) != mapped:
                raise _fail(
                    "size", size, f"contradicts resolution={resolution!r} ratio={ratio!r} "
                    f"({mapped})", "give either size or resolution/ratio",
                )  # fmt: skip
            size = mapped
        if not info.known:
            size = "" if size is None else request_new._norm_size(size)
        else:
            size = info.default_size if size is None else _normalise_size(info, size)
        if duration is None:
            duration = info.default_duration
        else:
            allowed = f"{info.id} takes a duration {info.duration_text()}"
            _check_int("duration", duration, allowed)
            if info.known and duration not in info.durations:
                raise _fail("duration", duration, f"is not allowed for {info.id}", allowed)
        if negative_prompt is not None:
            _check_text(
                "negative_prompt", negative_prompt, info.negative_prompt_max, info.id,
                required=False,
            )  # fmt: skip
        audio_sha = None
        if audio_url is not None:
            audio_models = ", ".join(m.id for m in catalog.MODELS.values() if m.audio)
            if not info.audio:
                raise _fail(
                    "audio_url", audio_url, f"is not supported: {info.id} makes silent video",
                    f"use a model with sound ({audio_models})",
                )  # fmt: skip
            if isinstance(audio_url, os.PathLike):
                audio_url = os.fspath(audio_url)
            if not isinstance(audio_url, str) or not audio_url.strip():
                raise _fail("audio_url", audio_url, "is not a URL or a path", "pass a string")
            if not is_remote_url(audio_url):
                path = _local_audio(audio_url)
                audio_url, audio_sha = str(path), _sha256_file(path)
        if audio is not None:
            _check_bool("audio", audio)
            if not info.audio:
                audio_models = ", ".join(m.id for m in catalog.MODELS.values() if m.audio)
                raise _fail(
                    "audio", audio, f"is not supported: {info.id} makes silent video",
                    f"leave it unset, or use a model with sound ({audio_models})",
                )  # fmt: skip
        _check_bool("prompt_extend", prompt_extend)
        _check_bool("watermark", watermark)
        if shot_type is not None:
            if not info.shot_type:
                with_shots = ", ".join(m.id for m in catalog.MODELS.values() if m.shot_type)
                raise _fail(
                    "shot_type", shot_type, f"is not supported by {info.id}",
                    f"leave it unset, or use {with_shots}",
                )  # fmt: skip
            if shot_type not in SHOT_TYPES:
                raise _fail("shot_type", shot_type, "is not a shot type", "use 'single' or 'multi'")
            if not prompt_extend:
                warnings.warn(
                    "shot_type only takes effect with prompt_extend=True; the service ignores "
                    "it here",
                    UserWarning,
                    stacklevel=2,
                )
        if seed is not None:
            allowed = f"an integer from 0 to {catalog.SEED_MAX}"
            _check_int("seed", seed, allowed)
            if not 0 <= seed <= catalog.SEED_MAX:
                raise _fail("seed", seed, "is out of range", allowed)
        return cls(
            prompt=prompt,
            model=model,
            size=size,
            duration=duration,
            negative_prompt=negative_prompt,
            audio_url=audio_url,
            audio=audio,
            shot_type=shot_type,
            prompt_extend=prompt_extend,
            watermark=watermark,
            seed=seed,
            protocol=protocol,
            _audio_sha256=audio_sha,
        )

    @property
    def model_info(self) -> catalog.Model:
        """The catalog row of :attr:`model` (a permissive row for an id the catalog lacks)."""
        return catalog.lookup(self.model, self.protocol, warn=False)  # type: ignore[arg-type]

    @property
    def local_audio_path(self) -> Path | None:
        """The local audio file to upload, when ``audio_url`` named one."""
        if self.audio_url is None or is_remote_url(self.audio_url):
            return None
        return Path(self.audio_url)

    def canonical(self) -> dict[str, Any]:
        """Every field as a stable JSON-able dict (a local audio file by name and sha256;
        media inputs by role, sha256, size, with pixel size and a thumbnail for the sidecar)."""
        return self._canonical(records=True)

    def _canonical(self, *, records: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "prompt": self.prompt,
            "size": self.size,
            "duration": self.duration,
            "negative_prompt": self.negative_prompt,
            "audio": self.audio,
            "shot_type": self.shot_type,
            "prompt_extend": self.prompt_extend,
            "watermark": self.watermark,
            "seed": self.seed,
        }
        local = self.local_audio_path
        if local is not None:
            out["audio_file"] = local.name
            out["audio_sha256"] = self._audio_sha256 or _sha256_file(local)
        else:
            out["audio_url"] = self.audio_url
        if self.model_info.protocol == "new":
            # never sent on the new protocol; legacy canonical forms are unchanged (cache keys)
            del out["size"], out["shot_type"]
            out["resolution"], out["ratio"] = self.resolution, self.ratio
        if self.protocol is not None:
            out["protocol"] = self.protocol
        if self.media:
            # the content, never a path or a temporary URL, is the key (issue 14)
            if not self.size:  # r2v keeps its size
                out.pop("size", None)
            out["resolution"] = self.resolution
            if self.ratio is None:  # follows the input
                out.pop("ratio", None)
            else:
                out["ratio"] = self.ratio
            out["inputs"] = [m.record() if records else m.key() for m in self.media]
            if self.audio_setting is not None:
                out["audio_setting"] = self.audio_setting
        return out

    def canonical_json(self) -> str:
        """The canonical dict as compact, key-sorted JSON."""
        return json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))

    @property
    def digest(self) -> str:
        """sha256 hex of :meth:`canonical_json` (media inputs by their key only): the cache
        key."""
        text = self.canonical_json()
        if self.media:
            text = json.dumps(self._canonical(records=False), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_body(
        self, audio_url: str | None = None, media_urls: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """The exact create JSON. ``audio_url`` overrides the field (the ``oss://`` URL after an
        upload); a local file that was not uploaded is an error. ``media_urls`` maps each media
        role to what is sent for it (:func:`wan_notebook.media_in.prepare`)."""
        url = audio_url if audio_url is not None else self.audio_url
        if url is not None and not is_remote_url(url):
            raise ValidationError(
                f"audio_url {url!r} is a local file; upload it first (WanClient.upload) "
                "and pass the oss:// URL",
                param="audio_url",
                value=url,
                allowed="an http(s):// or oss:// URL",
            )
        if self.media:
            urls = dict(media_urls or {})
            for m in self.media:
                urls.setdefault(m.slot, m.url or "")
                if not urls[m.slot]:
                    raise ValidationError(
                        f"{m.role} is local content; send it with media_urls (see "
                        "wan_notebook.media_in.prepare)",
                        param=m.role, value=m.name, allowed="an http(s)://, oss:// or data: URL",
                    )  # fmt: skip
            return media_body(
                self.model_info, model_name=self.model, prompt=self.prompt,
                negative_prompt=self.negative_prompt, size=self.size,
                urls=[(m.role, field_of(self.model_info, m.role, m.kind), urls[m.slot])
                      for m in self.media],
                resolution=self.resolution, ratio=self.ratio, audio_setting=self.audio_setting,
                duration=self.duration, audio_url=url, audio=self.audio,
                shot_type=self.shot_type, prompt_extend=self.prompt_extend,
                watermark=self.watermark, seed=self.seed,
            )  # fmt: skip
        if self.model_info.protocol == "new":
            return new_body(
                model=self.model, prompt=self.prompt, resolution=self.resolution,
                ratio=self.ratio, duration=self.duration, negative_prompt=self.negative_prompt,
                audio_url=url, audio=self.audio, prompt_extend=self.prompt_extend,
                watermark=self.watermark, seed=self.seed,
            )  # fmt: skip
        inp: dict[str, Any] = {"prompt": self.prompt}
        if self.negative_prompt:
            inp["negative_prompt"] = self.negative_prompt
        if url is not None:
            inp["audio_url"] = url
        params: dict[str, Any] = {
            "size": self.size,
            "duration": self.duration,
            "prompt_extend": self.prompt_extend,
            "watermark": self.watermark,
        }
        if not self.size:
            del params["size"]  # an unknown model without a size: the service's default
        if not self.duration:
            del params["duration"]
        if self.seed is not None:
            params["seed"] = self.seed
        if self.shot_type is not None:
            params["shot_type"] = self.shot_type
        if self.audio is not None:
            params["audio"] = self.audio
        return {"model": self.model, "input": inp, "parameters": params}

    def replace(self, **changes: Any) -> VideoRequest:
        """A validated copy with some fields changed."""
        unknown = set(changes) - {"prompt", *PARAMS}
        if unknown:
            name = sorted(unknown)[0]
            raise _fail(name, changes[name], "is not a parameter", "use " + ", ".join(PARAMS))
        current = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name[0] != "_" and f.name != "media"
        }
        current.update({m.role: m for m in self.media})
        if "model" in changes and changes["model"] != self.model:
            # defaults of the old model may not fit the new one; re-derive them unless given
            for name in ("size", "duration", "resolution", "ratio"):
                current.pop(name)
        current.update(changes)
        prompt = current.pop("prompt")
        return VideoRequest.create(prompt, **current)

    @property
    def display_size(self) -> str:
        """``W*H`` for views: the size, or the pixel cell of a new-protocol resolution x ratio
        (``"1080P adaptive"`` when the model picks the ratio)."""
        first = next((m for m in self.media if m.role in ("image", "first_clip", "video")), None)
        if first is not None and first.width and first.height and self.resolution:
            w, h = catalog.pixels_for_image(self.resolution, first.width, first.height)
            return f"{w}*{h}"
        if self.size or self.resolution is None:
            return self.size
        cell = self.model_info.pixel_size(self.resolution, self.ratio or "")
        return cell or f"{self.resolution} {self.ratio or ''}".strip()

    @property
    def expected_seconds(self) -> float:
        """Typical generation time for this model, size and duration (catalog estimate)."""
        info = self.model_info
        size = self.size
        if info.protocol == "new":
            ratio = "16:9" if self.ratio in (None, "adaptive") else self.ratio
            size = info.pixel_size(self.resolution or "1080P", ratio) or ""
        return info.expected_seconds(size, self.duration)


def _models_allowed() -> str:
    return "use one of " + ", ".join(catalog.model_ids(with_aliases=True))


def _create_new(info: catalog.Model, prompt: str, **kw: Any) -> VideoRequest:
    """:meth:`VideoRequest.create` for a new-protocol model (wan2.7, Wan3.0)."""
    resolution, ratio = request_new.new_dimensions(
        info, kw.pop("size"), kw.pop("resolution"), kw.pop("ratio")
    )
    duration = request_new.new_duration(info, kw.pop("duration"))
    request_new.check_new_extras(
        info,
        negative_prompt=kw["negative_prompt"],
        audio_url=kw["audio_url"],
        audio=kw["audio"],
        shot_type=kw.pop("shot_type"),
    )
    # the shared checks (texts, audio file, booleans, seed) on a legacy-shaped copy
    legacy = VideoRequest.create(
        "-",
        model=catalog.DEFAULT_MODEL,
        audio_url=kw["audio_url"],
        audio=kw["audio"],
        prompt_extend=kw["prompt_extend"],
        watermark=kw["watermark"],
        seed=kw["seed"],
    )
    if kw["negative_prompt"] is not None:
        _check_text(
            "negative_prompt", kw["negative_prompt"], info.negative_prompt_max, info.id,
            required=False,
        )  # fmt: skip
    return VideoRequest(
        prompt=prompt,
        model=kw["model"],
        size="",
        duration=duration,
        negative_prompt=kw["negative_prompt"],
        audio_url=legacy.audio_url,
        audio=kw["audio"],
        shot_type=None,
        prompt_extend=kw["prompt_extend"],
        watermark=kw["watermark"],
        seed=kw["seed"],
        resolution=resolution,
        ratio=ratio,
        protocol=kw["protocol"],
        _audio_sha256=legacy._audio_sha256,
    )
