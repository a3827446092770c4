"""Error taxonomy (docs/semantics.md, Guards): MRO mapping, kinds, registration, clear errors."""

import pytest

from montalaq.errors import (
    DEFAULT_TAXONOMY,
    EXCEPTION_MAP,
    ErrorCode,
    ErrorKind,
    ErrorTaxonomy,
    error_code_for,
    kind_of,
)


def test_spec_mapping_through_the_mro() -> None:
    assert error_code_for(TimeoutError()) == ErrorCode.INGESTION_TIMEOUT
    assert error_code_for(ConnectionError()) == ErrorCode.PROVIDER_DISCONNECTED
    assert error_code_for(RuntimeError()) == ErrorCode.ANALYSIS_ERR
    assert error_code_for(ValueError()) == ErrorCode.UNKNOWN
    # Subclasses map through their MRO: ConnectionResetError -> ConnectionError,
    # RecursionError -> RuntimeError, a user subclass of TimeoutError -> TimeoutError.

    class FeedTimeoutError(TimeoutError):
        pass

    assert error_code_for(ConnectionResetError()) == ErrorCode.PROVIDER_DISCONNECTED
    assert error_code_for(RecursionError()) == ErrorCode.ANALYSIS_ERR
    assert error_code_for(FeedTimeoutError) == ErrorCode.INGESTION_TIMEOUT
    assert EXCEPTION_MAP[TimeoutError] == ErrorCode.INGESTION_TIMEOUT


def test_every_builtin_code_has_a_kind() -> None:
    for code in ErrorCode.__members__.values():
        assert kind_of(code) in (ErrorKind.TRANSIENT, ErrorKind.PERMANENT)
    assert kind_of(ErrorCode.INGESTION_TIMEOUT) is ErrorKind.TRANSIENT
    assert kind_of(ErrorCode.RATE_LIMITED) is ErrorKind.TRANSIENT
    assert kind_of(ErrorCode.UNKNOWN) is ErrorKind.PERMANENT
    assert kind_of("DUPLICATE_TICK") is ErrorKind.PERMANENT


def test_users_register_codes_and_exceptions_on_their_own_taxonomy() -> None:
    class BrokerRejectedError(Exception):
        pass

    class BrokerBusyError(BrokerRejectedError):
        pass

    tax = ErrorTaxonomy()
    tax.register_code("BROKER_BUSY", ErrorKind.TRANSIENT)
    tax.register_code("BROKER_REJECTED", ErrorKind.PERMANENT)
    tax.register_exception(BrokerRejectedError, "BROKER_REJECTED")
    tax.register_exception(BrokerBusyError, "BROKER_BUSY")
    assert tax.code_for(BrokerBusyError()) == "BROKER_BUSY"  # the nearest class in the MRO wins
    assert tax.code_for(BrokerRejectedError()) == "BROKER_REJECTED"
    assert tax.is_transient(BrokerBusyError())
    assert not tax.is_transient(BrokerRejectedError())
    assert BrokerBusyError not in DEFAULT_TAXONOMY.exception_map()  # the default is untouched


def test_bad_registrations_and_unknown_codes_are_clear() -> None:
    tax = ErrorTaxonomy()
    with pytest.raises(ValueError, match="unknown error code 'NOT_THERE'"):
        tax.kind_of("NOT_THERE")
    with pytest.raises(ValueError, match="register it with register_code first"):
        tax.register_exception(KeyError, "NOT_THERE")
    with pytest.raises(ValueError, match="UPPER_SNAKE"):
        tax.register_code("lower case", ErrorKind.TRANSIENT)
    with pytest.raises(TypeError, match="kind"):
        tax.register_code("X", "TRANSIENT")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exc_type"):
        tax.register_exception("KeyError", ErrorCode.UNKNOWN)  # type: ignore[arg-type]
