# GLSL compute shaders -> SPIR-V (glslc) -> validated (spirv-val) -> C arrays compiled into the
# library. Each shader is its own translation unit, and glslc's depfile tracks #includes, so
# editing one .comp (or a header it includes) rebuilds only that shader's object.
set(LSVK_SPIRV_ENV vulkan1.1)

function(lsvk_embed_shaders out_sources)
  set(sources)
  foreach(comp IN LISTS ARGN)
    get_filename_component(name ${comp} NAME_WE)
    set(spv ${PROJECT_BINARY_DIR}/shaders/${name}.spv)
    set(csrc ${PROJECT_BINARY_DIR}/shaders/${name}.spv.c)
    add_custom_command(
      OUTPUT ${spv}
      COMMAND ${Vulkan_GLSLC_EXECUTABLE} --target-env=${LSVK_SPIRV_ENV} -O -Werror
              -I ${PROJECT_SOURCE_DIR}/shaders/common -MD -MF ${spv}.d -o ${spv} ${comp}
      COMMAND ${LSVK_SPIRV_VAL} --target-env ${LSVK_SPIRV_ENV} ${spv}
      DEPENDS ${comp}
      DEPFILE ${spv}.d
      COMMENT "glslc + spirv-val ${name}.comp"
      VERBATIM)
    add_custom_command(
      OUTPUT ${csrc}
      COMMAND ${CMAKE_COMMAND} -DSPV=${spv} -DOUT=${csrc} -DNAME=${name}
              -P ${PROJECT_SOURCE_DIR}/cmake/EmbedShader.cmake
      DEPENDS ${spv} ${PROJECT_SOURCE_DIR}/cmake/EmbedShader.cmake
      COMMENT "embed ${name}.spv"
      VERBATIM)
    list(APPEND sources ${csrc})
  endforeach()
  set(${out_sources} ${sources} PARENT_SCOPE)
endfunction()
