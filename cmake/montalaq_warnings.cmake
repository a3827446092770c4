# montalaq_warnings(target): the warning set every target builds with.
# MONTALAQ_WERROR (on in CI) turns them into errors.
function(montalaq_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wconversion -Wshadow -Wpedantic)
    if(MONTALAQ_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()
