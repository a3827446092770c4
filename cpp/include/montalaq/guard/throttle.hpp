#pragma once
// guard/throttle (SPEC §5): being written in this session.
namespace montalaq::guard {}
