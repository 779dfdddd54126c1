"""Operations tooling read from the code: the broker topology of the three services, the RabbitMQ
definitions and permissions that follow from it, and the published event contracts (AsyncAPI,
JSON Schema). Only the CLI and the tests use it; a running service needs none of it."""
