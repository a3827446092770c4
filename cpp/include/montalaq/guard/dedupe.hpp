#pragma once
// guard/dedupe (SPEC §5): being written in this session.
namespace montalaq::guard {}
