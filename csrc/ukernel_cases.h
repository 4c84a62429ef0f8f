/* Lists of UK_CASE(nb, T) for T = 1..N, used by ukernel_<isa>.c. */
#define UK_T4(nb) UK_CASE(nb, 1) UK_CASE(nb, 2) UK_CASE(nb, 3) UK_CASE(nb, 4)
#define UK_T5(nb) UK_T4(nb) UK_CASE(nb, 5)
#define UK_T6(nb) UK_T5(nb) UK_CASE(nb, 6)
#define UK_T7(nb) UK_T6(nb) UK_CASE(nb, 7)
#define UK_T8(nb) UK_T7(nb) UK_CASE(nb, 8)
#define UK_T9(nb) UK_T8(nb) UK_CASE(nb, 9)
#define UK_T10(nb) UK_T9(nb) UK_CASE(nb, 10)
#define UK_T12(nb) UK_T10(nb) UK_CASE(nb, 11) UK_CASE(nb, 12)

