"""The partner registry's domain, free of I/O and frameworks.

:mod:`.model` is the ``Partner`` aggregate, its rules and the events it records;
:mod:`.parsing` checks raw input (JSON or a spreadsheet row) into the model's values. The
enumerations of DOMAIN.md are :mod:`shared.vocabulary`'s; a refusal is one of :mod:`shared.errors`'
types (``Invalid``, and the model's ``NotAllowed``, ``DuplicateAgreement``, ``NameTaken``).
"""

from services.partners.domain.model import (
    EDITABLE,
    MAX_AGREEMENTS,
    Agreement,
    AgreementExpiring,
    AgreementLapsed,
    AgreementSigned,
    Channel,
    Contact,
    DuplicateAgreement,
    NameTaken,
    NotAllowed,
    Partner,
    PartnerArchived,
    PartnerEvent,
    PartnerReactivated,
    PartnerRegistered,
    PartnerStatusCorrected,
    PartnerSuspended,
    PartnerUpdated,
    Status,
    StatusChange,
    StatusChanged,
    fold,
)
from services.partners.domain.parsing import agreement, agreements, details, email, phone, reason
from shared.errors import Invalid

__all__ = [
    "EDITABLE", "MAX_AGREEMENTS", "Agreement", "AgreementExpiring", "AgreementLapsed", "AgreementSigned", "Channel", "Contact", "DuplicateAgreement",
    "Invalid", "NameTaken", "NotAllowed", "Partner", "PartnerArchived", "PartnerEvent", "PartnerReactivated",
    "PartnerRegistered", "PartnerStatusCorrected", "PartnerSuspended", "PartnerUpdated", "Status", "StatusChange", "StatusChanged",
    "agreement", "agreements", "details", "email", "fold", "phone", "reason",
]
