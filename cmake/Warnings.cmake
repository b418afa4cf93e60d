# Compiler warnings and sanitizers, applied per target through lsvk_set_warnings().
add_library(lsvk_warnings INTERFACE)
if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(lsvk_warnings INTERFACE -Wall -Wextra -Wshadow -Wstrict-prototypes
    -Wmissing-prototypes -Wno-unused-parameter -Wvla)
  if(LSVK_WERROR)
    target_compile_options(lsvk_warnings INTERFACE -Werror)
  endif()
elseif(MSVC)
  target_compile_options(lsvk_warnings INTERFACE /W4)
endif()

if(LSVK_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

function(lsvk_set_warnings target)
  target_link_libraries(${target} PRIVATE $<BUILD_INTERFACE:lsvk_warnings>)
endfunction()
