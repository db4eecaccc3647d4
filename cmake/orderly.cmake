# Test tiers follow the file suffix: *_test.cpp are pure; *_pgtest / *_redistest / *_kafkatest
# need the servers from deploy/local (found through ORDERLY_* environment DSNs) and are labelled so
# `ctest -L unit` runs only the pure ones.
function(orderly_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT 600
    ENVIRONMENT "ORDERLY_BUILD_DIR=${CMAKE_BINARY_DIR}")
endfunction()

# Embeds migrations/NNNN_name.sql of a service into a generated source so the binary carries its
# own schema and needs no files at run time.
function(orderly_embed_migrations target dir)
  file(GLOB sql_files CONFIGURE_DEPENDS "${dir}/*.sql")
  list(SORT sql_files)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${target}_migrations.cpp")
  set(body "#include \"orderly/pg/migrations.hpp\"\nnamespace orderly::pg {\nconst std::vector<Migration>& ${target}_migrations() {\n  static const std::vector<Migration> kAll = {\n")
  foreach(f ${sql_files})
    get_filename_component(fname ${f} NAME_WE)
    string(REGEX MATCH "^[0-9]+" ver "${fname}")
    math(EXPR ver_num "${ver}")
    file(READ ${f} sql)
    string(APPEND body "    {${ver_num}, \"${fname}\", R\"orderly_sql(${sql})orderly_sql\"},\n")
  endforeach()
  string(APPEND body "  };\n  return kAll;\n}\n}  // namespace orderly::pg\n")
  file(CONFIGURE OUTPUT "${out}" CONTENT "${body}")
  # <target>_migrations.hpp declares the function for the code that applies them.
  file(CONFIGURE OUTPUT "${CMAKE_CURRENT_BINARY_DIR}/embedded/${target}_migrations.hpp" CONTENT
    "#pragma once\n#include \"orderly/pg/migrations.hpp\"\nnamespace orderly::pg {\nconst std::vector<Migration>& ${target}_migrations();\n}  // namespace orderly::pg\n")
  target_include_directories(${target} PUBLIC "${CMAKE_CURRENT_BINARY_DIR}/embedded")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${sql_files})
  target_sources(${target} PRIVATE "${out}")
endfunction()

# A service: its domain code as a library (services/<dir>/src/*.cpp except main.cpp) that its
# tests link, the binary orderly-<dir> from src/main.cpp, embedded migrations, and tests from
# services/<dir>/tests (*_test.cpp unit, *_pgtest/_redistest/_kafkatest/_itest integration).
function(orderly_service dir)
  cmake_parse_arguments(S "" "" "DEPS" ${ARGN})
  string(REPLACE "-" "_" ident ${dir})
  file(GLOB srcs CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp")
  list(FILTER srcs EXCLUDE REGEX "/main\\.cpp$")
  add_library(${ident}_lib STATIC ${srcs})
  target_include_directories(${ident}_lib PUBLIC "${CMAKE_CURRENT_SOURCE_DIR}/src")
  target_link_libraries(${ident}_lib PUBLIC orderly::runtime orderly::proto ${S_DEPS})
  orderly_embed_migrations(${ident}_lib "${CMAKE_CURRENT_SOURCE_DIR}/migrations")
  add_executable(orderly-${dir} "${CMAKE_CURRENT_SOURCE_DIR}/src/main.cpp")
  target_link_libraries(orderly-${dir} PRIVATE ${ident}_lib orderly::malloc)
  file(GLOB tests CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/tests/*test.cpp")
  foreach(t ${tests})
    get_filename_component(tname ${t} NAME_WE)
    set(label unit)
    if(tname MATCHES "_(pg|redis|kafka|i)test$")
      set(label integration)
    endif()
    orderly_test(${ident}_${tname} SOURCES ${t} LIBS ${ident}_lib orderly::testing LABELS ${label})
  endforeach()
endfunction()
