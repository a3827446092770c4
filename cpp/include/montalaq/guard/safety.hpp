#pragma once
// guard/safety (SPEC §5): being written in this session.
namespace montalaq::guard {}
