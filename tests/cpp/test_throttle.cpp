#include <catch2/catch.hpp>

#include "montalaq/guard/throttle.hpp"
