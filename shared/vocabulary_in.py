"""What a request may say for each enumeration of the vocabulary, as pydantic types.

The code itself, or a label or word the partners importer also reads ("KIM", "Forum Warga",
"warganet": :func:`shared.vocabulary.code`); the code is what is stored and answered, and the
OpenAPI schema keeps the enumeration's codes. One place, so both APIs and their query filters read
a word the same way (issue 12, point 9). ``shared.vocabulary`` itself stays free of pydantic.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator

from shared.vocabulary import (
    ChannelKind, DocType, Format, Kind, Method, PartnerRole, PartnerType, Segment, Stage, Topic, lenient,
)

KindIn = Annotated[Kind, BeforeValidator(lenient("kind"))]
MethodIn = Annotated[Method, BeforeValidator(lenient("method"))]
FormatIn = Annotated[Format, BeforeValidator(lenient("format"))]
SegmentIn = Annotated[Segment, BeforeValidator(lenient("segment"))]
TopicIn = Annotated[Topic, BeforeValidator(lenient("topic"))]
StageIn = Annotated[Stage, BeforeValidator(lenient("stage"))]
RoleIn = Annotated[PartnerRole, BeforeValidator(lenient("role"))]
PartnerTypeIn = Annotated[PartnerType, BeforeValidator(lenient("partner_type"))]
ChannelKindIn = Annotated[ChannelKind, BeforeValidator(lenient("channel_kind"))]
DocTypeIn = Annotated[DocType, BeforeValidator(lenient("doc_type"))]
