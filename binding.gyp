{
  "targets": [
    {
      "target_name": "rrt",
      "sources": [
        "<!@(find native -name '*.cpp' | sort)"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions", "-Wall", "-Wno-unused-parameter", "-fno-math-errno"],
      "ldflags": ["-fopenmp"]
    }
  ]
}
