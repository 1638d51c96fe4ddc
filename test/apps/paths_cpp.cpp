// paths_cpp.cpp -- C++ iostreams for the capture matrix. Usage:
// paths_cpp MODE [REQUEST_ID]; MODE is cout-sync, cerr-sync, cout-nosync or
// cerr-nosync (std::ios::sync_with_stdio(false): libstdc++ then writes with
// write(2) itself instead of going through C stdio).
#include <dlfcn.h>
#include <cstring>
#include <iostream>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    std::string mode = argv[1];
    if (mode.find("nosync") != std::string::npos)
        std::ios::sync_with_stdio(false);
    auto begin = reinterpret_cast<int (*)(const char *)>(dlsym(RTLD_DEFAULT, "logtap_request_begin"));
    auto end = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "logtap_request_end"));
    if (argc > 2 && begin)
        begin(argv[2]);
    std::ostream &out = mode.rfind("cerr", 0) == 0 ? std::cerr : std::cout;
    out << mode << " ok" << std::endl;
    if (argc > 2 && end)
        end();
    return 0;
}
