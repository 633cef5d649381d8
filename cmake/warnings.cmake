# Compiler warnings and sanitizers applied to every specula target through specula_options.
add_library(specula_options INTERFACE)
target_compile_options(specula_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused -Woverloaded-virtual
  -Wdouble-promotion -Wimplicit-fallthrough)
if(SPECULA_WERROR)
  target_compile_options(specula_options INTERFACE -Werror)
endif()
if(SPECULA_SANITIZE)
  target_compile_options(specula_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                         -fno-sanitize-recover=undefined)
  target_link_options(specula_options INTERFACE -fsanitize=address,undefined)
endif()
