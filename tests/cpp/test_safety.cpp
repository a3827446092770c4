#include <catch2/catch.hpp>

#include "montalaq/guard/safety.hpp"
