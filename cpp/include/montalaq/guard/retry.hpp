#pragma once
// guard/retry (SPEC §5): being written in this session.
namespace montalaq::guard {}
