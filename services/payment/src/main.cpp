// placeholder; replaced by the real wiring below in this series
int main() { return 0; }
