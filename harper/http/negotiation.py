# -*- test-case-name: tests.http.test_negotiation -*-
"""
Content negotiation: which codec answers a request (C{Accept} with q-values weighed against the
server's preferences, or a C{.json}/C{.cbor}/C{.msgpack}/C{.csv} path suffix), which decodes its
body (C{Content-Type}), and whether the answer may be gzip-compressed (C{Accept-Encoding}).

A client's C{*/*} means JSON, as in Harper; C{type/*} ranges match the codecs of that type.
Results are memoised per header value, since clients repeat the same headers.
"""

from __future__ import annotations

from typing import Any, Optional

from harper.http.codecs import BODY_DECODERS, JSON_CODEC, RESPONSE_CODECS, SUFFIXES, Codec
from harper.http.errors import NotAcceptable, UnsupportedMediaType

#: The weight of JSON when the client accepts anything (C{*/*}).
GENERIC_PREFERENCE = 0.5

_MEMO_LIMIT = 256
_chosen: dict[str, Codec] = {}
_gzip_accepted: dict[str, bool] = {}


def media_type(header: Optional[str]) -> str:
    """
    The lower-case media type of a C{Content-Type} value, without its parameters.
    """
    return (header or "").split(";", 1)[0].strip().lower()


def parse_accept(header: str) -> list[tuple[str, float]]:
    """
    The media ranges of an C{Accept} (or C{Accept-Encoding}) header with their q-values, in
    the order given; a malformed q-value counts as 1 and out-of-range ones are clamped.
    """
    ranges = []
    for item in header.split(","):
        name, *parameters = item.split(";")
        name = name.strip().lower()
        if not name:
            continue
        quality = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    quality = 1.0
        ranges.append((name, quality))
    return ranges


def _client_quality(codec: Codec, ranges: list[tuple[str, float]]) -> tuple[Optional[float], int]:
    """
    The q-value of the most specific range matching C{codec}, and that specificity (2 exact,
    1 C{type/*}, 0 C{*/*}); C{(None, -1)} when no range matches.
    """
    best: tuple[Optional[float], int] = (None, -1)
    kind = codec.media_type.split("/", 1)[0]
    for name, quality in ranges:
        if name in codec.names:
            specificity = 2
        elif name == f"{kind}/*":
            specificity = 1
        elif name == "*/*" or name == "*":
            specificity = 0
        else:
            continue
        if specificity > best[1]:
            best = (quality, specificity)
    return best


def _choose(header: str) -> Codec:
    ranges = parse_accept(header)
    best: Optional[Codec] = None
    best_score = 0.0
    for codec in RESPONSE_CODECS:
        quality, specificity = _client_quality(codec, ranges)
        if not quality:
            continue
        if specificity == 0:
            weight = GENERIC_PREFERENCE if codec is JSON_CODEC else 0.0
        else:
            weight = codec.preference
        score = quality * weight
        if score > best_score:
            best, best_score = codec, score
    if best is None:
        offered = ", ".join(codec.media_type for codec in RESPONSE_CODECS)
        raise NotAcceptable(f"cannot answer in any type of Accept: {header} (harper offers {offered})")
    return best


def _memoised(memo: dict[str, Any], key: str, compute: Any) -> Any:
    found = memo.get(key)
    if found is None:
        found = compute(key)
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[key] = found
    return found


def response_codec(accept: Optional[str], suffix: Optional[str] = None) -> Codec:
    """
    The codec answering a request with C{Accept: accept}; a path C{suffix} (C{".csv"}) wins.

    :raises NotAcceptable: when no codec matches an acceptable range.
    """
    if suffix is not None:
        return SUFFIXES[suffix]
    if not accept:
        return JSON_CODEC
    return _memoised(_chosen, accept, _choose)


def split_suffix(path: str) -> tuple[str, Optional[str]]:
    """
    C{path} without a trailing content-type suffix, and that suffix (or C{None}).
    """
    dot = path.rfind(".")
    if dot != -1 and path[dot:] in SUFFIXES:
        return path[:dot], path[dot:]
    return path, None


def body_codec(content_type: Optional[str]) -> Codec:
    """
    The codec that reads a request body of C{content_type} (JSON when absent).

    :raises UnsupportedMediaType: for a type harper does not read.
    """
    name = media_type(content_type) or JSON_CODEC.media_type
    codec = BODY_DECODERS.get(name)
    if codec is None and name.endswith("+json"):
        codec = JSON_CODEC
    if codec is None:
        readable = ", ".join(sorted(BODY_DECODERS))
        raise UnsupportedMediaType(f"cannot read a request body of type {name} (harper reads {readable})")
    return codec


def _accepts_gzip(header: str) -> bool:
    qualities = dict(parse_accept(header))
    quality = qualities.get("gzip", qualities.get("x-gzip"))
    if quality is None:
        quality = qualities.get("*", 0.0)
    return quality > 0


def accepts_gzip(accept_encoding: Optional[str]) -> bool:
    """
    Whether C{Accept-Encoding} allows a gzip-compressed answer.
    """
    if not accept_encoding:
        return False
    return _memoised(_gzip_accepted, accept_encoding, _accepts_gzip)
