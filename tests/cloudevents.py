"""The CloudEvents 1.0 structured-mode rules a published Sinergi event must satisfy."""

CLOUDEVENT_SCHEMA = {
    "type": "object",
    "required": ["specversion", "id", "source", "type"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string", "minLength": 1},
        "source": {"type": "string", "minLength": 1, "format": "uri-reference"},
        "type": {"type": "string", "minLength": 1},
        "subject": {"type": "string", "minLength": 1},
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {"type": "string", "minLength": 1},
        "dataschema": {"type": "string", "format": "uri"},
    },
    # Attribute names are lower-case ASCII letters and digits (spec §"Attribute Naming Convention").
    "propertyNames": {"pattern": "^(_amqp|[a-z0-9]{1,20})$"},
}
