#include "montalaq/guard/dedupe.hpp"
