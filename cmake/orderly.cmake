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
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT 600)
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
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${sql_files})
  target_sources(${target} PRIVATE "${out}")
endfunction()
